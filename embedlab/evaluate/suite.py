"""Run evaluators on several systems at once and compare them honestly.

Each model is scored by every :class:`~embedlab.evaluate.evaluator.Evaluator` given (retrieval, STS,
clustering, classification, or one of your own); BM25 joins retrieval as a system of its own. The first
system is the baseline; every other one is compared with it item by item on every metric of a task with
per-item values (retrieval: per query; paired randomisation test, bootstrap interval of the difference),
and is called better or worse only when the difference is significant.

Example:
    >>> # not run: needs a BEIR folder and a model folder
    >>> report = run_evaluation([None, "./adapted"], benchmark=load_beir("data/bench"), bm25=True)  # doctest: +SKIP
    >>> report.save("eval-out")  # results.json and report.html  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedlab import __version__
from embedlab.encode import EmbeddingCache, Encoder
from embedlab.errors import InputError
from embedlab.evaluate.bm25 import BM25Search
from embedlab.evaluate.data import PairSet, RetrievalBenchmark
from embedlab.evaluate.results import PerItem, TaskResult
from embedlab.evaluate.retrieval import DEFAULT_METRICS, RetrievalResult
from embedlab.evaluate.stats import PairedComparison, paired_test
from embedlab.evaluate.tasks import LabelledSet
from embedlab.models import EmbeddingModel, load_model

if TYPE_CHECKING:
    from embedlab.evaluate.evaluator import Evaluator

_MARKS = {"better": " ▲", "worse": " ▼"}


@dataclass
class SystemResult:
    """Everything measured for one system (an embedding model, BM25, an index): a result per evaluator name."""

    name: str
    kind: str
    model: dict[str, Any] | None = None
    results: dict[str, TaskResult] = field(default_factory=dict)

    @property
    def retrieval(self) -> RetrievalResult | None:
        """The first retrieval result, if any."""
        return next((r for r in self.results.values() if isinstance(r, RetrievalResult)), None)

    @property
    def speed(self) -> dict[str, float]:
        """Every task's speed figures."""
        return {key: value for result in self.results.values() for key, value in result.speed.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: each task's results under its evaluator's name."""
        return {"name": self.name, "kind": self.kind, "model": self.model,
                **{task: result.to_dict() for task, result in self.results.items()}, "speed": self.speed}  # fmt: skip


@dataclass
class Comparison:
    """One system against the baseline on one metric of one task."""

    baseline: str
    system: str
    metric: str
    test: PairedComparison
    task: str = "retrieval"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, verdict included."""
        return {"baseline": self.baseline, "system": self.system, "task": self.task, "metric": self.metric,
                **self.test.to_dict()}  # fmt: skip


@dataclass
class EvaluationReport:
    """All systems' results, the comparisons with the baseline, and the worst queries to look at.

    ``tasks`` describes each evaluator by name: its kind, title, primary and headline metrics, the metrics
    measured and what it scored on.
    """

    systems: list[SystemResult]
    comparisons: list[Comparison]
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    worst_queries: list[dict[str, Any]] = field(default_factory=list)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def baseline(self) -> str:
        """The name of the first system, the one every other is compared with."""
        return self.systems[0].name

    @property
    def benchmark(self) -> dict[str, Any]:
        """What the first retrieval task scored on (name, queries, documents), or ``{}``."""
        return next((t["data"] for t in self.tasks.values() if t["task"] == "retrieval"), {})

    @property
    def metrics(self) -> list[str]:
        """The metrics of the first retrieval task, or ``[]``."""
        return next((t["metrics"] for t in self.tasks.values() if t["task"] == "retrieval"), [])

    def rows(self, task: str, metrics: Sequence[str] | None = None) -> list[list[str]]:
        """A table of one task: a row per system that has it, ``[name, "value [low, high] mark", ...]``.

        ``metrics`` default to the task's headline metrics; ▲/▼/= mark a comparison with the baseline.
        """
        shown = metrics or self.tasks[task]["headline"]
        verdicts = {(c.system, c.metric): c.test.verdict for c in self.comparisons if c.task == task}
        rows = []
        for system in self.systems:
            result = system.results.get(task)
            if result is not None:
                cells = [str(result.ci[m]) + _mark(verdicts.get((system.name, m))) for m in shown]
                rows.append([system.name, *cells])
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every score, per query too."""
        return {
            "embedlab_version": __version__,
            "created": self.created,
            "benchmark": self.benchmark,
            "metrics": self.metrics,
            "tasks": self.tasks,
            "baseline": self.baseline,
            "systems": [system.to_dict() for system in self.systems],
            "comparisons": [comparison.to_dict() for comparison in self.comparisons],
            "worst_queries": self.worst_queries,
        }

    def save(self, out: str | Path) -> dict[str, Path]:
        """Write ``results.json`` and ``report.html`` into the folder ``out`` (made if missing); return their paths.

        Raises:
            InputError: ``out`` (or a folder above it) is a file, or one of the two names is a folder; checked
                before anything is written.
        """
        from embedlab.evaluate.report import write_html
        from embedlab.io import writable_files

        results, page = writable_files(out, "results.json", "report.html")
        results.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        return {"results": results, "report": write_html(self, page)}


def run_evaluation(
    models: Sequence[str | Path | EmbeddingModel | None],
    *,
    evaluators: Sequence[Evaluator] = (),
    benchmark: RetrievalBenchmark | None = None,
    bm25: bool = False,
    sts: PairSet | None = None,
    clustering: LabelledSet | None = None,
    classification: LabelledSet | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    k: int = 100,
    cache: EmbeddingCache | bool | None = None,
) -> EvaluationReport:
    """Evaluate each model (``None`` is the bundled default) with every evaluator, and optionally BM25.

    ``benchmark``, ``sts``, ``clustering`` and ``classification`` add the built-in evaluators for that data
    (:func:`~embedlab.evaluate.evaluators.task_evaluators`) before ``evaluators``. BM25 is scored on every
    retrieval evaluator. The first system is the baseline of the comparisons.

    Raises:
        InputError: nothing to evaluate, or two evaluators with the same name.
    """
    from embedlab.evaluate.evaluators import RetrievalEvaluator, task_evaluators

    chosen = [*task_evaluators(benchmark=benchmark, sts=sts, clustering=clustering, classification=classification,
                               metrics=metrics, k=k), *evaluators]  # fmt: skip
    names = [evaluator.name for evaluator in chosen]
    if not chosen or len(set(names)) < len(names):
        raise InputError(f"Give evaluators (or data) with distinct names; got {names}.")
    systems: list[SystemResult] = []
    for spec in models:
        model = spec if isinstance(spec, EmbeddingModel) else load_model(spec)
        encoder = Encoder(model, cache=cache)
        results = {evaluator.name: evaluator.measure(encoder) for evaluator in chosen}
        systems.append(SystemResult(_name(model, systems), "model", model.info.to_dict(), results))
    retrieval = [evaluator for evaluator in chosen if isinstance(evaluator, RetrievalEvaluator)]
    if bm25 and retrieval:
        results = {e.name: e.search(BM25Search(e.benchmark.corpus)) for e in retrieval}
        systems.append(SystemResult("BM25", "bm25", results=dict(results)))
    return build_report(systems, chosen)


def build_report(systems: list[SystemResult], evaluators: Sequence[Evaluator]) -> EvaluationReport:
    """Compare already-evaluated systems with the first one and pick the worst queries: the report.

    Use it for systems :func:`run_evaluation` does not build itself, e.g. an index's search modes
    (``RetrievalEvaluator.search(index.search_fn(mode))``).
    """
    tasks: dict[str, dict[str, Any]] = {}
    worst: list[dict[str, Any]] = []
    for evaluator in evaluators:
        results = {s.name: s.results[evaluator.name] for s in systems if evaluator.name in s.results}
        measured = list(next(iter(results.values())).ci) if results else []
        tasks[evaluator.name] = {
            "task": evaluator.task,
            "title": evaluator.title,
            "primary": evaluator.primary,
            "headline": [m for m in evaluator.headline if m in measured] or measured,
            "metrics": measured,
            "data": evaluator.summary(),
        }
        shown = {item.get("query_id") for item in worst}  # a subset of a test (seen/unseen) repeats its queries
        worst += [item for item in evaluator.worst(results) if item.get("query_id") not in shown]
    return EvaluationReport(systems, _compare(systems), tasks, worst)


def _name(model: EmbeddingModel, taken: list[SystemResult]) -> str:
    name = model.info.name.rstrip("/").split("/")[-1]
    names = {system.name for system in taken}
    return name if name not in names else f"{name} #{len(taken) + 1}"


def _compare(systems: list[SystemResult]) -> list[Comparison]:
    """Every other system against the first on each metric of each task with per-item values."""
    if not systems:
        return []
    baseline = systems[0]
    comparisons: list[Comparison] = []
    for task, base in baseline.results.items():
        if not isinstance(base, PerItem):
            continue
        for system in systems[1:]:
            other = system.results.get(task)
            if not isinstance(other, PerItem):
                continue
            for metric in base.ci:
                test = paired_test(base.values(metric), other.values(metric))
                comparisons.append(Comparison(baseline.name, system.name, metric, test, task))
    return comparisons


def _mark(verdict: str | None) -> str:
    return "" if verdict is None else _MARKS.get(verdict, " =")
