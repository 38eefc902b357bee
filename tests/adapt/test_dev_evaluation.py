"""The dev figures fine-tuning records are the figures `embedlab eval` gives for the saved model on that split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedlab.adapt import FinetuneConfig, TrainingSet, finetune
from embedlab.cli import app
from embedlab.evaluate import load_beir
from embedlab.registry import read_lineage

from .conftest import DISTRACTORS, DOCS, QUERIES

# Dev judgements are graded, and for two queries the most wanted document is not the obvious one, so a
# binary dev score (what fine-tuning recorded before it used embedlab's evaluator) differs from eval's.
DEV = {"q-market": {"bonds": 2, "market": 1}, "q-recipe": {"bread": 2, "recipe": 1}, "q-python": {"python": 1}}


def _benchmark(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    corpus = {**DOCS, **DISTRACTORS}
    rows = [{"_id": doc, "title": "", "text": text} for doc, text in corpus.items()]
    (root / "corpus.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    queries = {f"q-{k}": q for k, q in QUERIES.items()}
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    splits = {
        "train": {q: {q[2:]: 1} for q in queries if q not in DEV and q != "q-cat"},
        "dev": DEV,
        "test": {"q-cat": {"cat": 1}},
    }
    for split, qrels in splits.items():
        rows = [f"{q}\t{d}\t{g}" for q, judged in qrels.items() for d, g in judged.items()]
        (root / "qrels" / f"{split}.tsv").write_text("\n".join(["query-id\tcorpus-id\tscore", *rows]) + "\n")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("sample", [None, 9], ids=["whole-corpus", "corpus-sample"])
def test_recorded_dev_ndcg_is_what_eval_gives_for_the_saved_model(model, tmp_path: Path, sample: int | None) -> None:
    bench = _benchmark(tmp_path / "bench")
    train = TrainingSet.from_benchmark(load_beir(bench, split="train"))
    # No warmup: its first step runs at learning rate 0 and would be a best checkpoint equal to the base model.
    config = FinetuneConfig(
        epochs=3, batch_size=3, checkpoint_steps=1, lr=1e-4, warmup_ratio=0.0, seed=2, dev_corpus_size=sample
    )
    dev = load_beir(bench, split="dev")
    result = finetune(model, train, out=tmp_path / "model", config=config, dev=dev, show_progress=False)
    lineage = read_lineage(result.path)
    assert lineage is not None
    recorded = lineage.metrics["dev"]
    # The best checkpoint's figure: the highest of the trainer's dev evaluations (one per step).
    logged = [entry["eval_dev_ndcg@10"] for entry in result.history if "eval_dev_ndcg@10" in entry]
    assert len(logged) == 6 and recorded["ndcg@10"] == max(logged)
    assert lineage.data["dev"]["queries"] == 3 and lineage.data["dev"]["documents"] == (sample or 12)

    sampled = ["--corpus-size", str(sample), "--seed", "2"] if sample else []
    scored = CliRunner().invoke(app, ["eval", "--benchmark", str(bench), "--split", "dev", "--model", str(result.path),
                                      "--no-cache", "--out", str(tmp_path / "eval"), *sampled])  # fmt: skip
    assert scored.exit_code == 0, scored.output
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["benchmark"]["documents"] == (sample or 12)
    evaluated = results["systems"][0]["retrieval"]["mean"]
    assert recorded["ndcg@10"] == pytest.approx(evaluated["ndcg@10"], abs=1e-6)
    assert {m: recorded[m] for m in evaluated} == pytest.approx(evaluated, abs=1e-6)
