"""The evaluators of embedlab's tasks: retrieval (ranx, graded relevance), STS, clustering, classification.

Each is an :class:`~embedlab.evaluate.evaluator.Evaluator`: ``evaluator(model)`` gives prefixed metrics
(the sentence-transformers contract, so it runs inside the trainer), ``evaluator.measure(encoder)`` the
result with intervals. :func:`task_evaluators` builds the ones ``embedlab eval`` runs from the data given.

Example:
    >>> # not run: needs a BEIR folder; fine-tuning takes minutes
    >>> dev = RetrievalEvaluator(load_beir("my-bench", split="dev"), name="dev")  # doctest: +SKIP
    >>> finetune(None, train, out="models/mine", dev=dev)  # dev(model) at checkpoints  # doctest: +SKIP
    >>> run_evaluation(["models/mine"], evaluators=[dev]).systems[0].results["dev"].mean["ndcg@10"]  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from embedlab.encode import Encoder
from embedlab.errors import InputError
from embedlab.evaluate.data import PairSet, RetrievalBenchmark
from embedlab.evaluate.evaluator import Evaluator
from embedlab.evaluate.results import Scores, TaskResult
from embedlab.evaluate.retrieval import DEFAULT_METRICS, ExactSearch, RetrievalResult, SearchFn, evaluate
from embedlab.evaluate.sts import sts_correlation
from embedlab.evaluate.tasks import LabelledSet, classification_scores, clustering_scores

_SNIPPET = 160


class RetrievalEvaluator(Evaluator):
    """Rank the benchmark's corpus for each query (exact cosine search) and score it with ranx's metrics.

    Relevance is graded as the qrels say; every judged query counts. :meth:`search` scores any search
    function the same way (BM25, an index, a remote server).

    Args:
        benchmark: queries, corpus and qrels (use :meth:`RetrievalBenchmark.sample` to score against part
            of a large corpus).
        name: the metrics' prefix and the results' key.
        metrics: ranx metric names.
        k: documents retrieved per query.
        primary: the metric that ranks models (default ``ndcg@10``, else the first of ``metrics``).
    """

    task = "retrieval"
    title = "Retrieval"
    headline = ("ndcg@10", "mrr@10", "recall@100")

    def __init__(
        self,
        benchmark: RetrievalBenchmark,
        *,
        name: str = "retrieval",
        metrics: Sequence[str] = DEFAULT_METRICS,
        k: int = 100,
        primary: str | None = None,
    ) -> None:
        if not metrics:
            raise InputError("A retrieval evaluator needs at least one metric.")
        primary = primary or ("ndcg@10" if "ndcg@10" in metrics else metrics[0])
        if primary not in metrics:
            raise InputError(f"The primary metric {primary!r} is not among the metrics {list(metrics)}.")
        super().__init__(name, primary)
        self.benchmark = benchmark
        self.metrics = list(metrics)
        self.k = k

    def measure(self, encoder: Encoder) -> RetrievalResult:
        """Exact search over the benchmark's corpus with ``encoder``, scored."""
        return self.search(ExactSearch(encoder, self.benchmark.corpus))

    def search(self, search: SearchFn) -> RetrievalResult:
        """Score any search function ``(queries, k) -> rankings`` on the benchmark."""
        return evaluate(search, self.benchmark, k=self.k, metrics=self.metrics)

    def summary(self) -> dict[str, Any]:
        """The benchmark's name, number of queries and documents, and what its loading left out."""
        bench = self.benchmark
        return {
            "name": bench.name,
            "queries": len(bench.queries),
            "documents": len(bench.corpus),
            "dropped": bench.dropped,
        }

    def worst(self, results: dict[str, TaskResult], count: int = 10) -> list[dict[str, Any]]:
        """The first system's lowest-scoring queries (most disagreement between systems first among ties).

        Each comes with its relevant documents and every system's score and top 3 documents.
        """
        scored = {name: result for name, result in results.items() if isinstance(result, RetrievalResult)}
        if not scored:
            return []
        bench, metric = self.benchmark, self.primary
        query_ids = list(bench.queries)
        table = np.array([[result.per_query[q][metric] for q in query_ids] for result in scored.values()])
        spread = table.max(axis=0) - table.min(axis=0)
        worst = []
        for index in np.lexsort((-spread, table[0]))[:count]:
            qid = query_ids[index]
            relevant = bench.qrels[qid]
            ranked = sorted(relevant.items(), key=lambda item: -item[1])
            shown = [self._shown(doc, qid) | {"grade": grade} for doc, grade in ranked if grade > 0]
            systems = {
                name: {
                    metric: float(table[row, index]),
                    "top": [self._shown(doc, qid) | {"score": score} for doc, score in result.rankings[qid][:3]],
                }
                for row, (name, result) in enumerate(scored.items())
            }
            worst.append({"query_id": qid, "query": bench.queries[qid], "relevant": shown, "systems": systems})
        return worst

    def _shown(self, doc: str, query_id: str) -> dict[str, Any]:
        """A document as the report shows it: id, start of its text, relevant to the query or not."""
        text = self.benchmark.corpus.get(doc, "")[:_SNIPPET]
        return {"id": doc, "text": text, "relevant": self.benchmark.qrels[query_id].get(doc, 0) > 0}

    def get_config_dict(self) -> dict[str, Any]:
        """The settings shown in a model card: primary metric, k, benchmark size."""
        return {"primary": self.primary, "k": self.k, **self.summary()}


class STSEvaluator(Evaluator):
    """Spearman and Pearson correlation of pair cosines with gold similarity scores (primary: Spearman)."""

    task = "sts"
    title = "STS (cosine vs gold)"

    def __init__(self, pairs: PairSet, *, name: str = "sts") -> None:
        super().__init__(name, "spearman")
        self.pairs = pairs

    def measure(self, encoder: Encoder) -> Scores:
        """The correlations with bootstrap intervals, and texts encoded per second."""
        started = time.perf_counter()
        scores = sts_correlation(encoder, self.pairs)
        texts_per_s = 2 * len(self.pairs.scores) / max(time.perf_counter() - started, 1e-9)
        return Scores(scores, speed={"sts_texts_per_s": texts_per_s})

    def summary(self) -> dict[str, Any]:
        """The number of scored pairs."""
        return {"pairs": len(self.pairs.scores)}


class ClusteringEvaluator(Evaluator):
    """K-means with k = the number of labels: V-measure (primary), ARI, cosine silhouette."""

    task = "clustering"
    title = "Clustering (k-means, k = labels)"

    def __init__(self, data: LabelledSet, *, name: str = "clustering", seed: int = 0) -> None:
        super().__init__(name, "v_measure")
        self.data = data
        self.seed = seed

    def measure(self, encoder: Encoder) -> Scores:
        """The clustering scores with bootstrap intervals."""
        return Scores(clustering_scores(encoder, self.data, seed=self.seed))

    def summary(self) -> dict[str, Any]:
        """Items and labels."""
        return {"items": len(self.data.texts), "labels": len(set(self.data.labels))}


class ClassificationEvaluator(Evaluator):
    """Logistic regression on the embeddings, cross-validated: accuracy (primary) and macro-F1."""

    task = "classification"
    title = "Classification (logistic regression, 5-fold)"

    def __init__(self, data: LabelledSet, *, name: str = "classification", folds: int = 5, seed: int = 0) -> None:
        super().__init__(name, "accuracy")
        self.data = data
        self.folds = folds
        self.seed = seed

    def measure(self, encoder: Encoder) -> Scores:
        """The classification scores with bootstrap intervals."""
        return Scores(classification_scores(encoder, self.data, folds=self.folds, seed=self.seed))

    def summary(self) -> dict[str, Any]:
        """Items, labels and folds."""
        return {"items": len(self.data.texts), "labels": len(set(self.data.labels)), "folds": self.folds}


def task_evaluators(
    *,
    benchmark: RetrievalBenchmark | None = None,
    sts: PairSet | None = None,
    clustering: LabelledSet | None = None,
    classification: LabelledSet | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    k: int = 100,
) -> list[Evaluator]:
    """The evaluators for the data given, under their task names (``retrieval``, ``sts``...)."""
    evaluators: list[Evaluator] = []
    if benchmark is not None:
        evaluators.append(RetrievalEvaluator(benchmark, metrics=metrics, k=k))
    if sts is not None:
        evaluators.append(STSEvaluator(sts))
    if clustering is not None:
        evaluators.append(ClusteringEvaluator(clustering))
    if classification is not None:
        evaluators.append(ClassificationEvaluator(classification))
    return evaluators
