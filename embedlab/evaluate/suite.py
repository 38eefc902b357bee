"""Run every evaluation on several systems at once and compare them honestly.

The first system is the baseline; every other one is compared with it query by query (paired
randomisation test, bootstrap interval of the difference) on every retrieval metric, and is called
better or worse only when the difference is significant. BM25 joins as a system of its own.

Example:
    >>> report = run_evaluation([None, "./adapted"], benchmark=load_beir("data/bench"), bm25=True)  # doctest: +SKIP
    >>> report.save("eval-out")  # results.json and report.html  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from embedlab import __version__
from embedlab.encode import EmbeddingCache, Encoder
from embedlab.evaluate.bm25 import BM25Search
from embedlab.evaluate.data import PairSet, RetrievalBenchmark
from embedlab.evaluate.retrieval import DEFAULT_METRICS, ExactSearch, RetrievalResult, evaluate
from embedlab.evaluate.stats import Estimate, PairedComparison, paired_test
from embedlab.evaluate.sts import sts_correlation
from embedlab.evaluate.tasks import LabelledSet, classification_scores, clustering_scores
from embedlab.models import EmbeddingModel, load_model

PRIMARY = "ndcg@10"
_SNIPPET = 160


@dataclass
class SystemResult:
    """Everything measured for one system (an embedding model, or BM25)."""

    name: str
    kind: str
    model: dict[str, Any] | None = None
    retrieval: RetrievalResult | None = None
    sts: dict[str, Estimate] | None = None
    clustering: dict[str, Estimate] | None = None
    classification: dict[str, Estimate] | None = None
    speed: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        tasks = {"sts": self.sts, "clustering": self.clustering, "classification": self.classification}
        return {
            "name": self.name,
            "kind": self.kind,
            "model": self.model,
            "retrieval": self.retrieval.to_dict() if self.retrieval else None,
            **{task: _estimates(scores) for task, scores in tasks.items()},
            "speed": self.speed,
        }


@dataclass
class Comparison:
    """One system against the baseline on one metric."""

    baseline: str
    system: str
    metric: str
    test: PairedComparison

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, verdict included."""
        return {"baseline": self.baseline, "system": self.system, "metric": self.metric, **self.test.to_dict()}


@dataclass
class EvaluationReport:
    """All systems' results, the comparisons with the baseline, and the worst queries to look at."""

    systems: list[SystemResult]
    comparisons: list[Comparison]
    metrics: list[str]
    benchmark: dict[str, Any] = field(default_factory=dict)
    worst_queries: list[dict[str, Any]] = field(default_factory=list)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def baseline(self) -> str:
        """The name of the first system, the one every other is compared with."""
        return self.systems[0].name

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every score, per query too."""
        return {
            "embedlab_version": __version__,
            "created": self.created,
            "benchmark": self.benchmark,
            "metrics": self.metrics,
            "baseline": self.baseline,
            "systems": [system.to_dict() for system in self.systems],
            "comparisons": [comparison.to_dict() for comparison in self.comparisons],
            "worst_queries": self.worst_queries,
        }

    def save(self, out: str | Path) -> dict[str, Path]:
        """Write ``results.json`` and ``report.html`` into ``out``; return their paths."""
        from embedlab.evaluate.report import write_html

        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        results = folder / "results.json"
        results.write_text(json.dumps(self.to_dict(), indent=1))
        return {"results": results, "report": write_html(self, folder / "report.html")}


def run_evaluation(
    models: Sequence[str | Path | EmbeddingModel | None],
    *,
    benchmark: RetrievalBenchmark | None = None,
    bm25: bool = False,
    sts: PairSet | None = None,
    clustering: LabelledSet | None = None,
    classification: LabelledSet | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    k: int = 100,
    cache: EmbeddingCache | bool | None = None,
) -> EvaluationReport:
    """Evaluate each model (``None`` is the bundled default) and optionally BM25 on the data given.

    Retrieval runs when ``benchmark`` is given (BM25 only then); STS, clustering and classification run
    for the models when their data is given. The first system is the baseline of the comparisons.
    """
    systems: list[SystemResult] = []
    for spec in models:
        model = spec if isinstance(spec, EmbeddingModel) else load_model(spec)
        encoder = Encoder(model, cache=cache)
        result = SystemResult(name=_name(model, systems), kind="model", model=model.info.to_dict())
        if benchmark is not None:
            result.retrieval = evaluate(ExactSearch(encoder, benchmark.corpus), benchmark, k=k, metrics=metrics)
            result.speed.update(result.retrieval.speed)
        if sts is not None:
            started = time.perf_counter()
            result.sts = sts_correlation(encoder, sts)
            result.speed["sts_texts_per_s"] = 2 * len(sts.scores) / (time.perf_counter() - started)
        if clustering is not None:
            result.clustering = clustering_scores(encoder, clustering)
        if classification is not None:
            result.classification = classification_scores(encoder, classification)
        systems.append(result)
    if bm25 and benchmark is not None:
        retrieval = evaluate(BM25Search(benchmark.corpus), benchmark, k=k, metrics=metrics)
        systems.append(SystemResult(name="BM25", kind="bm25", retrieval=retrieval, speed=dict(retrieval.speed)))
    return build_report(systems, benchmark, metrics)


def build_report(
    systems: list[SystemResult], benchmark: RetrievalBenchmark | None, metrics: Sequence[str] = DEFAULT_METRICS
) -> EvaluationReport:
    """Compare already-evaluated systems with the first one and pick the worst queries: the report.

    Use it for systems :func:`run_evaluation` does not build itself, e.g. an index's search modes.
    """
    comparisons = _compare(systems, metrics)
    summary: dict[str, Any] = {}
    worst: list[dict[str, Any]] = []
    if benchmark is not None:
        summary = {"name": benchmark.name, "queries": len(benchmark.queries), "documents": len(benchmark.corpus),
                   "dropped": benchmark.dropped}  # fmt: skip
        worst = _worst_queries(systems, benchmark, metrics[0] if PRIMARY not in metrics else PRIMARY)
    return EvaluationReport(systems, comparisons, list(metrics), summary, worst)


def _name(model: EmbeddingModel, taken: list[SystemResult]) -> str:
    name = model.info.name.rstrip("/").split("/")[-1]
    names = {system.name for system in taken}
    return name if name not in names else f"{name} #{len(taken) + 1}"


def _compare(systems: list[SystemResult], metrics: Sequence[str]) -> list[Comparison]:
    baseline = systems[0] if systems else None
    if baseline is None or baseline.retrieval is None:
        return []
    comparisons = []
    for system in systems[1:]:
        if system.retrieval is None:
            continue
        for metric in metrics:
            test = paired_test(baseline.retrieval.values(metric), system.retrieval.values(metric))
            comparisons.append(Comparison(baseline.name, system.name, metric, test))
    return comparisons


def _worst_queries(
    systems: list[SystemResult], benchmark: RetrievalBenchmark, metric: str, count: int = 10
) -> list[dict[str, Any]]:
    """The baseline's lowest-scoring queries (most disagreement between systems first among ties)."""
    scored = [system for system in systems if system.retrieval is not None]
    if not scored:
        return []
    query_ids = list(benchmark.queries)
    table = np.array([[s.retrieval.per_query[q][metric] for q in query_ids] for s in scored])  # type: ignore[union-attr]
    spread = table.max(axis=0) - table.min(axis=0)
    order = np.lexsort((-spread, table[0]))[:count]
    worst = []
    for index in order:
        qid = query_ids[index]
        relevant = benchmark.qrels[qid]
        worst.append(
            {
                "query_id": qid,
                "query": benchmark.queries[qid],
                "relevant": [
                    {"id": doc, "grade": grade, "text": benchmark.corpus.get(doc, "")[:_SNIPPET]}
                    for doc, grade in sorted(relevant.items(), key=lambda item: -item[1])
                    if grade > 0
                ],
                "systems": {
                    system.name: {
                        metric: float(table[row, index]),
                        "top": [
                            {
                                "id": doc,
                                "score": score,
                                "relevant": relevant.get(doc, 0) > 0,
                                "text": benchmark.corpus.get(doc, "")[:_SNIPPET],
                            }
                            for doc, score in system.retrieval.rankings[qid][:3]  # type: ignore[union-attr]
                        ],
                    }
                    for row, system in enumerate(scored)
                },
            }
        )
    return worst


def _estimates(scores: dict[str, Estimate] | None) -> dict[str, dict[str, float]] | None:
    return {name: estimate.to_dict() for name, estimate in scores.items()} if scores else None
