"""Do no harm: the decision from known comparisons, the held-out split, and `adapt auto` without labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedlab import Encoder
from embedlab.adapt.auto import adapt_auto, choose_strategy
from embedlab.adapt.decision import decide, holdout_pairs
from embedlab.adapt.pairs import SyntheticPair
from embedlab.adapt.unlabelled import doc2query_training, find_llm
from embedlab.cli import app
from embedlab.errors import InputError
from embedlab.registry import read_lineage

from .test_synthetic import CORPUS, FakeLLM, fake_llm, fake_queries  # noqa: F401  (fake_llm is a fixture)


def _comparison(difference: float, p_value: float) -> dict[str, object]:
    return {"difference": {"value": difference, "low": difference - 0.01, "high": difference + 0.01},
            "p_value": p_value}  # fmt: skip


def test_a_significant_gain_keeps_the_adapted_model() -> None:
    decision = decide(_comparison(0.054, 0.0002))
    assert decision.adapted and decision.keep == "adapted"
    assert decision.reason.startswith("use the adapted model: significantly better on the benchmark's labelled")
    assert "+0.0540, p = 0.0002" in decision.reason


@pytest.mark.parametrize(
    ("difference", "p_value", "why"),
    [
        (0.0025, 0.78, "not significantly better"),  # the docstring demo's old result
        (0.03, 0.05, "not significantly better"),  # p must be below alpha, not equal to it
        (-0.268, 0.0002, "significantly worse"),  # TSDAE on SciFact
        (0.0, 1.0, "not significantly better"),
    ],
)
def test_anything_short_of_a_significant_gain_keeps_the_base(difference: float, p_value: float, why: str) -> None:
    decision = decide(_comparison(difference, p_value), held_out="held-out synthetic queries", trust="a caveat")
    assert decision.keep == "base" and not decision.adapted
    assert decision.reason.startswith(f"keep the base: the adapted model is {why} on held-out synthetic queries")
    assert decision.to_dict()["trust"] == "a caveat"


def test_the_significance_level_is_the_callers() -> None:
    assert decide(_comparison(0.02, 0.03)).adapted
    assert not decide(_comparison(0.02, 0.03), alpha=0.01).adapted
    with pytest.raises(InputError, match="Not a paired comparison"):
        decide({"p_value": 0.01})


def test_held_out_queries_are_those_of_whole_documents_never_trained_on() -> None:
    corpus = {f"d{i}": f"document {i}" for i in range(10)}
    pairs = [SyntheticPair(f"query {q} about {d}", d, "doc2query") for d in corpus for q in range(3)]
    train, held_out = holdout_pairs(pairs, corpus, fraction=0.2, seed=1)
    held_docs = {doc for judged in held_out.qrels.values() for doc in judged}
    assert len(held_docs) == 2 and len(held_out.queries) == 6 and len(train) == 24
    assert not held_docs & {pair.doc_id for pair in train}
    assert held_out.corpus == corpus  # searched against every document
    assert holdout_pairs(pairs, corpus, fraction=0.2, seed=1)[0] == train  # seeded
    with pytest.raises(InputError, match="too few"):
        holdout_pairs(pairs[:3], corpus)


def test_no_labels_means_doc2query_and_without_an_llm_the_refusal_says_what_to_do(tmp_path: Path, model) -> None:
    assert choose_strategy(0)[0] == "doc2query"
    with pytest.raises(InputError) as refused:
        find_llm(None, str(tmp_path / "missing.gguf"))
    message = str(refused.value)
    assert "embedlab models install qwen2.5-coder-0.5b-gguf" in message and "--llm-base-url" in message
    assert "embedlab label" in message
    (tmp_path / "domain.txt").write_text("\n".join(CORPUS.values()))
    with pytest.raises(InputError, match="none is available"):  # no TSDAE behind the user's back
        adapt_auto(None, corpus=tmp_path / "domain.txt", out=tmp_path / "m", base=model,
                   llm_model=str(tmp_path / "missing.gguf"), show_progress=False)  # fmt: skip
    assert not (tmp_path / "m").exists()


def test_doc2query_training_keeps_round_trips_and_holds_out_whole_documents(
    encoder: Encoder,
    fake_llm: FakeLLM,  # noqa: F811
) -> None:
    planted = {**CORPUS, "decoy": "Completely unrelated words about opera singers and violins in Vienna."}
    data = doc2query_training(planted, encoder=encoder, llm_base_url=fake_llm.url, llm_model="m", k=1,
                              hold_out=0.34, seed=0, show_progress=False)  # fmt: skip
    assert data.report.generated == 18 and data.generator == f"m at {fake_llm.url}"
    # the fake LLM's queries are the document's own words: each finds its document, none is dropped by the round trip
    assert data.report.failed_round_trip == 0 and data.report.kept == 18 - data.report.duplicates
    held_docs = {doc for judged in data.held_out.qrels.values() for doc in judged}
    trained_docs = {doc for docs in data.train.positives.values() for doc in docs}
    assert len(held_docs) == 2 and not held_docs & trained_docs and held_docs | trained_docs == set(planted)
    assert set(data.train.queries.values()) <= {q for d in planted.values() for q in fake_queries(d)}
    assert data.train.corpus == planted  # every document supplies hard negatives
    assert "synthetic queries written by m at" in data.trust and "embedlab label" in data.trust


@pytest.mark.slow
def test_auto_without_labels_keeps_the_base_when_not_better_and_fails_with_require_better(
    tmp_path: Path,
    fake_llm: FakeLLM,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EMBEDLAB_HOME", str(tmp_path / "home"))
    (tmp_path / "domain.jsonl").write_text("".join(json.dumps({"id": d, "text": t}) + "\n" for d, t in CORPUS.items()))
    command = ["adapt", "auto", "--corpus", str(tmp_path / "domain.jsonl"), "--llm-base-url", fake_llm.url,
               "--llm-model", "m", "--epochs", "1", "--report", str(tmp_path / "report")]  # fmt: skip
    result = CliRunner().invoke(app, [*command, "--name", "tiny", "--require-better"])
    # one held-out document whose three queries both models already rank first: no gain, so the base stays
    assert result.exit_code == 1, result.output
    assert "strategy: doc2query" in result.output and "decision: keep the base" in result.output
    assert "held-out synthetic queries" in result.output and "not registered" in result.output
    assert not (tmp_path / "home" / "models" / "tiny").exists()
    lineage = read_lineage(tmp_path / "report" / "adapted-model")
    assert lineage is not None and lineage.metrics["decision"]["keep"] == "base"
    assert lineage.method == "auto:doc2query" and lineage.data["doc2query"]["generated"] == 15
    saved = json.loads((tmp_path / "report" / "results.json").read_text())
    assert saved["benchmark"]["name"].endswith("held-out synthetic queries")
    forced = CliRunner().invoke(app, [*command[:-2], "--report", str(tmp_path / "r2"), "--name", "t2",
                                      "--keep-adapted"])  # fmt: skip
    assert forced.exit_code == 0, forced.output
    assert read_lineage(tmp_path / "home" / "models" / "t2") is not None
