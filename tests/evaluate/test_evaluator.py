"""The evaluator contract: prefixed metrics, primary metric, graded relevance, any model form, pluggable tasks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers.base.evaluation import BaseEvaluator

from embedlab import EmbeddingModel, Encoder
from embedlab.errors import InputError
from embedlab.evaluate import RetrievalBenchmark, RetrievalEvaluator
from embedlab.evaluate.evaluator import Evaluator
from embedlab.evaluate.results import Scores
from embedlab.evaluate.stats import mean_ci
from embedlab.evaluate.suite import run_evaluation

CORPUS = {
    "cat": "The cat slept all afternoon on the warm mat by the window.",
    "dog": "The dog barked at the postman every morning.",
    "market": "Stock markets fell sharply after the central bank raised interest rates.",
    "bonds": "Government bond yields rose as investors sold treasuries.",
    "python": "Python is a programming language with dynamic typing and garbage collection.",
}
QUERIES = {"q-pet": "where does the pet nap", "q-shares": "why did shares drop"}
# Graded: the document a reader wants most has grade 2.
QRELS = {"q-pet": {"cat": 2, "dog": 1}, "q-shares": {"bonds": 2, "market": 1}}
BENCH = RetrievalBenchmark(CORPUS, QUERIES, QRELS, name="tiny")


def _ndcg10(ranking: list[str], judged: dict[str, int]) -> float:
    """NDCG@10 with linear gains, written out."""
    dcg = sum(judged.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking[:10]))
    ideal = sorted(judged.values(), reverse=True)[:10]
    return dcg / sum(grade / math.log2(rank + 2) for rank, grade in enumerate(ideal))


def test_retrieval_evaluator_follows_the_sentence_transformers_contract(model: EmbeddingModel) -> None:
    evaluator = RetrievalEvaluator(BENCH, name="dev")
    assert isinstance(evaluator, BaseEvaluator)
    assert evaluator.primary_metric == "dev_ndcg@10" and evaluator.greater_is_better
    metrics = evaluator(model.st)
    assert set(metrics) == {f"dev_{m}" for m in evaluator.metrics}
    # The same figures whatever form the model comes in: SentenceTransformer, EmbeddingModel, Encoder.
    assert evaluator(model) == pytest.approx(metrics, abs=1e-9)
    assert evaluator(Encoder(model, show_progress=False)) == pytest.approx(metrics, abs=1e-9)
    assert evaluator.scores(model) == pytest.approx({k[4:]: v for k, v in metrics.items()}, abs=1e-9)


def test_relevance_is_graded(model: EmbeddingModel) -> None:
    result = RetrievalEvaluator(BENCH).measure(Encoder(model, show_progress=False))
    graded, binary = [], []
    for qid, judged in QRELS.items():
        ranking = [doc for doc, _ in result.rankings[qid]]
        graded.append(_ndcg10(ranking, judged))
        binary.append(_ndcg10(ranking, dict.fromkeys(judged, 1)))
        assert result.per_query[qid]["ndcg@10"] == pytest.approx(graded[-1], abs=1e-9)
    assert result.mean["ndcg@10"] == pytest.approx(np.mean(graded), abs=1e-9)
    assert np.mean(graded) < np.mean(binary)  # the model ranks a grade-1 document above a grade-2 one


def test_corpus_sample_keeps_every_judged_document_and_is_reproducible() -> None:
    sample = BENCH.sample(4, seed=1)
    assert {"cat", "dog", "market", "bonds"} <= set(sample.corpus) and len(sample.corpus) == 4
    big = RetrievalBenchmark({f"d{i}": f"text {i}" for i in range(100)}, {"q": "x"}, {"q": {"d7": 1}})
    first, again, other = big.sample(10, seed=3), big.sample(10, seed=3), big.sample(10, seed=4)
    assert list(first.corpus) == list(again.corpus) != list(other.corpus)
    assert "d7" in first.corpus and len(first.corpus) == 10 and first.dropped["documents_not_sampled"] == 90


class MeanNorm(Evaluator):
    """A task of our own: the mean L2 norm of the vectors of some texts (1 for a normalising model)."""

    task = "norm"
    title = "Vector norms"

    def __init__(self, texts: list[str]) -> None:
        super().__init__("norm", "mean_norm")
        self.texts = texts

    def measure(self, encoder: Encoder) -> Scores:
        norms = np.linalg.norm(encoder.encode(self.texts), axis=1)
        return Scores({"mean_norm": mean_ci(norms)})


def test_a_new_task_plugs_into_the_suite_report_and_json(model: EmbeddingModel, tmp_path: Path) -> None:
    report = run_evaluation([model], benchmark=BENCH, evaluators=[MeanNorm(list(CORPUS.values()))])
    assert list(report.tasks) == ["retrieval", "norm"]
    assert report.tasks["norm"]["title"] == "Vector norms" and report.tasks["norm"]["metrics"] == ["mean_norm"]
    [row] = report.rows("norm")
    assert row[0] == "all-MiniLM-L6-v2" and row[1].startswith("1.0000 [")
    paths = report.save(tmp_path)
    system = json.loads(paths["results"].read_text())["systems"][0]
    assert system["norm"]["mean_norm"]["value"] == pytest.approx(1.0, abs=1e-5)
    assert system["retrieval"]["mean"]["ndcg@10"] == report.systems[0].results["retrieval"].mean["ndcg@10"]
    assert "<h2>Vector norms</h2>" in paths["report"].read_text()


def test_bad_evaluators_are_refused(model: EmbeddingModel) -> None:
    with pytest.raises(InputError, match="primary metric"):
        RetrievalEvaluator(BENCH, metrics=["mrr@10"], primary="ndcg@10")
    with pytest.raises(InputError, match="name"):
        RetrievalEvaluator(BENCH, name="")
    with pytest.raises(InputError, match="distinct names"):
        run_evaluation([model], benchmark=BENCH, evaluators=[RetrievalEvaluator(BENCH)])
    with pytest.raises(InputError, match="distinct names"):
        run_evaluation([model])
