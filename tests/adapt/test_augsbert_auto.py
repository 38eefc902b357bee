import json
from collections import Counter

import numpy as np
import pytest

from embedlab import Encoder, InputError
from embedlab.adapt.augsbert import (
    CrossEncoderConfig,
    _gold_negatives,
    augmented_sbert,
    label_silver,
    train_cross_encoder,
)
from embedlab.adapt.auto import adapt_auto, choose_strategy
from embedlab.adapt.finetune import FinetuneConfig
from embedlab.index.rerank import load_reranker
from embedlab.registry import read_lineage

from .conftest import DISTRACTORS, DOCS, QUERIES

TEST_QUERIES = {
    "cat": "sleepy kitten by the window",
    "market": "equities slump after rate hike",
    "python": "garbage collected scripting language",
    "recipe": "egg and flour batter baking time",
    "weather": "Paris storm warning",
    "football": "late winner seals the title",
    "vaccine": "immune system learns to spot pathogens",
    "flood": "village under water after river overflow",
}


@pytest.mark.parametrize(
    ("pairs", "strategy"),
    [
        (0, "doc2query"),
        (49, "synthetic"),
        (50, "finetune"),
        (500, "finetune"),
        (501, "hard-negatives"),
        (9_999, "hard-negatives"),
        (10_000, "curriculum"),
    ],
)
def test_strategy_follows_the_data_table(pairs, strategy):
    assert choose_strategy(pairs)[0] == strategy


@pytest.mark.slow
def test_augmented_sbert_trains_a_reusable_cross_encoder_and_the_bi_encoder(tiny_train, model, tmp_path):
    config = FinetuneConfig(loss="cosent", batch_size=8, max_steps=2)
    result = augmented_sbert(
        model,
        tiny_train,
        out=tmp_path / "bi",
        config=config,
        cross_encoder_config=CrossEncoderConfig(batch_size=8, negatives_per_positive=1),
        silver_per_query=2,
        show_progress=False,
    )
    lineage = read_lineage(result.path)
    assert lineage is not None and lineage.method == "augsbert"
    assert lineage.data["gold"] == 8 and lineage.data["silver"] == result.lineage.data["silver"] > 0
    reranker = load_reranker(tmp_path / "bi-cross-encoder")
    silver = label_silver(tiny_train, reranker, encoder=Encoder(model, show_progress=False), per_query=2)
    scores = np.array([score for _, _, score in silver])
    assert ((scores >= 0) & (scores <= 1)).all()
    per_query = Counter(query for query, _, _ in silver)
    assert set(per_query) == set(tiny_train.queries) and 2 <= min(per_query.values()) <= max(per_query.values()) <= 4
    assert not any(doc in tiny_train.positives[query] for query, doc, _ in silver)


def test_cross_encoder_gold_negatives_mix_hard_and_random(tiny_train):
    hard_only = _gold_negatives(tiny_train, CrossEncoderConfig(negatives_per_positive=2, easy_negatives=0), None)
    mixed = _gold_negatives(tiny_train, CrossEncoderConfig(negatives_per_positive=2, easy_negatives=1), None)
    for query, positives in tiny_train.positives.items():
        assert len(mixed[query]) == len(set(mixed[query])) == 3 and mixed[query][:2] == hard_only[query]
        assert not set(mixed[query]) & set(positives)


def test_cross_encoder_refuses_an_existing_output(tiny_train, tmp_path):
    (tmp_path / "ce").mkdir()
    with pytest.raises(Exception, match="already exists"):
        train_cross_encoder(tiny_train, out=tmp_path / "ce")


def _write_benchmark(root, *, train=True):
    (root / "qrels").mkdir(parents=True)
    corpus = {**DOCS, **DISTRACTORS}
    (root / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": k, "title": "", "text": v}) for k, v in corpus.items())
    )
    queries = [{"_id": f"train-{k}", "text": q} for k, q in QUERIES.items()]
    queries += [{"_id": f"test-{k}", "text": q} for k, q in TEST_QUERIES.items()]
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    for split, prefix in (("train", "train"), ("test", "test"))[0 if train else 1 :]:
        rows = ["query-id\tcorpus-id\tscore", *(f"{prefix}-{k}\t{k}\t1" for k in QUERIES)]
        (root / "qrels" / f"{split}.tsv").write_text("\n".join(rows))


@pytest.mark.slow
def test_auto_from_the_cli_adapts_reports_and_registers(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from embedlab.cli import app

    monkeypatch.setenv("EMBEDLAB_HOME", str(tmp_path / "home"))
    _write_benchmark(tmp_path / "bench")
    runner = CliRunner()
    command = ["adapt", "auto", "--benchmark", str(tmp_path / "bench"), "--name", "tiny", "--epochs", "1"]
    command.append("--keep-adapted")  # registered whatever the verdict on eight queries
    result = runner.invoke(app, [*command, "--report", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert "strategy: synthetic" in result.output and "adapted - base NDCG@10" in result.output
    saved = json.loads((tmp_path / "report" / "results.json").read_text())
    assert [system["name"] for system in saved["systems"]][-1] == "BM25" and len(saved["systems"]) == 3
    verdict = next(c for c in saved["comparisons"] if c["metric"] == "ndcg@10" and c["system"] != "BM25")
    assert f"p = {verdict['p_value']:.3g}: {verdict['verdict']}" in result.output
    assert "decision: " in result.output  # kept anyway: --keep-adapted
    assert (tmp_path / "report" / "report.html").is_file()
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    assert [row["name"] for row in listed if row["name"] == "tiny"] == ["tiny"]
    shown = json.loads(runner.invoke(app, ["models", "show", "tiny", "--json"]).output)
    lineage = read_lineage(shown["path"])
    assert lineage is not None and lineage.method == "auto:synthetic" == shown["lineage"]["method"]
    adapted = saved["systems"][1]["retrieval"]["mean"]["ndcg@10"]
    assert lineage.metrics["test"]["ndcg@10"] == pytest.approx(adapted)
    assert "ndcg@10" in lineage.metrics["test_base"]
    # every test query points at a document training paired with a query: one group, said in the lineage
    assert list(saved["tasks"]) == ["retrieval", "seen"]
    assert lineage.metrics["coverage"]["seen"]["queries"] == 8 and "unseen" not in lineage.metrics["coverage"]
    assert "Every test query points at a document training saw" in lineage.metrics["coverage"]["verdict"]
    compared = json.loads(runner.invoke(app, ["models", "compare", "tiny", "--json"]).output)
    assert compared[0]["name"] == "tiny"
    again = runner.invoke(app, command)  # the registry never overwrites a model, and says so before training
    assert isinstance(again.exception, InputError) and "tiny already exists" in str(again.exception)


def test_auto_refuses_an_unknown_strategy_one_without_its_data_and_a_corpus_without_pairs(tmp_path, model):
    _write_benchmark(tmp_path / "bench", train=False)
    out = tmp_path / "model"
    with pytest.raises(InputError, match="Unknown strategy 'magic'"):
        adapt_auto(tmp_path / "bench", out=out, base=model, strategy="magic")
    with pytest.raises(InputError, match="No train pairs: strategy 'hard-negatives' needs them"):
        adapt_auto(tmp_path / "bench", out=out, base=model, strategy="hard-negatives")
    with pytest.raises(InputError, match="No synthetic pair could be made from 12 documents"):  # one sentence each
        adapt_auto(tmp_path / "bench", out=out, base=model, strategy="synthetic", show_progress=False)
    assert not out.exists()


@pytest.mark.slow
def test_auto_synthetic_without_labels_trains_on_inverse_cloze_pairs_from_the_extra_corpus(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from embedlab.cli import app

    monkeypatch.setenv("EMBEDLAB_HOME", str(tmp_path / "home"))
    _write_benchmark(tmp_path / "bench", train=False)
    extra = [f"{DOCS[k]} {DISTRACTORS[d]} {QUERIES[k].capitalize()} is a question it answers."
             for k, d in zip(DOCS, [*DISTRACTORS, *DISTRACTORS], strict=True)]  # fmt: skip
    (tmp_path / "extra.txt").write_text("\n".join(extra))
    command = ["adapt", "auto", "--benchmark", str(tmp_path / "bench"), "--corpus", str(tmp_path / "extra.txt")]
    result = CliRunner().invoke(app, [*command, "--strategy", "synthetic", "--name", "ict", "--epochs", "1",
                                      "--keep-adapted"])  # fmt: skip
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "strategy: synthetic (chosen by the caller (0 train pairs; the table says doc2query))" in said
    lineage = read_lineage(tmp_path / "home" / "models" / "ict")
    assert lineage is not None and lineage.method == "auto:synthetic"
    # only the extra documents have two sentences or more: every pair comes from them
    assert 0 < lineage.data["pairs"] == lineage.data["queries"] <= len(extra)
    assert "ndcg@10" in lineage.metrics["test"]
