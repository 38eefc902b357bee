"""What an adaptation's figure covers: test queries on documents seen in training vs on new documents.

A model fine-tuned on (query, document) pairs can learn *those documents* (a fixed catalogue) without
getting better at documents it never saw (a growing corpus). :func:`coverage_evaluators` splits a test
benchmark into the queries whose relevant documents training paired with a query (``seen``: any of them)
and the rest (``unseen``), as two :class:`~embedlab.evaluate.evaluators.RetrievalEvaluator` tasks that
:func:`~embedlab.evaluate.suite.run_evaluation` scores and compares like any other (intervals, paired
test against the baseline). :func:`coverage` reads both verdicts out of the report and
:meth:`Coverage.sentence` says in words where the lift lives.

Example:
    >>> evaluators = coverage_evaluators(test, train.seen_documents)  # needs a benchmark  # doctest: +SKIP
    >>> report = run_evaluation([None, "./adapted"], benchmark=test, evaluators=evaluators)  # doctest: +SKIP
    >>> print(coverage(report, report.systems[1].name).sentence())  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from embedlab.evaluate.data import RetrievalBenchmark
from embedlab.evaluate.evaluators import RetrievalEvaluator
from embedlab.evaluate.retrieval import DEFAULT_METRICS
from embedlab.evaluate.stats import Estimate, PairedComparison
from embedlab.evaluate.suite import EvaluationReport

GROUPS = ("seen", "unseen")
_WHAT = {"seen": "documents seen in training", "unseen": "documents training never saw"}


def split_by_seen(benchmark: RetrievalBenchmark, seen: Collection[str]) -> dict[str, RetrievalBenchmark]:
    """``{"seen": ..., "unseen": ...}``: the queries with a relevant document in ``seen``, and the others.

    A group without queries is left out. Both keep the whole corpus, so each is ranked as in the full test.

    Example:
        >>> bench = RetrievalBenchmark({"a": "A", "b": "B"}, {"q1": "x", "q2": "y"}, {"q1": {"a": 1}, "q2": {"b": 1}})
        >>> {group: list(part.queries) for group, part in split_by_seen(bench, {"a"}).items()}
        {'seen': ['q1'], 'unseen': ['q2']}
    """
    seen_ids = set(seen)
    is_seen = {
        qid: any(g > 0 and doc in seen_ids for doc, g in benchmark.qrels[qid].items()) for qid in benchmark.queries
    }
    groups = {}
    for group, wanted in zip(GROUPS, (True, False), strict=True):
        ids = [qid for qid in benchmark.queries if is_seen[qid] == wanted]
        if ids:
            groups[group] = RetrievalBenchmark(
                corpus=benchmark.corpus,
                queries={qid: benchmark.queries[qid] for qid in ids},
                qrels={qid: benchmark.qrels[qid] for qid in ids},
                name=f"{benchmark.name}: queries on {_WHAT[group]}",
            )
    return groups


def coverage_evaluators(
    benchmark: RetrievalBenchmark, seen: Collection[str], *, metrics: Sequence[str] = DEFAULT_METRICS, k: int = 100
) -> list[RetrievalEvaluator]:
    """A retrieval evaluator per group of :func:`split_by_seen`, named ``seen`` and ``unseen``."""
    return [
        RetrievalEvaluator(part, name=group, metrics=metrics, k=k)
        for group, part in split_by_seen(benchmark, seen).items()
    ]


@dataclass(frozen=True)
class GroupVerdict:
    """One group of test queries: how many, base and adapted with intervals, and the paired test."""

    group: str
    queries: int
    base: Estimate
    adapted: Estimate
    test: PairedComparison

    def describe(self) -> str:
        """``on 120 test queries on documents seen in training: 0.7000 -> 0.8000 (+0.1000, p = 0.0002, better)``."""
        return (
            f"on {self.queries} test queries on {_WHAT[self.group]}: {self.base.value:.4f} -> {self.adapted.value:.4f} "
            f"({self.test.difference.value:+.4f}, p = {self.test.p_value:.2g}, {self.test.verdict})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for a lineage)."""
        return {"queries": self.queries, "base": self.base.to_dict(), "adapted": self.adapted.to_dict(),
                **self.test.to_dict()}  # fmt: skip


@dataclass(frozen=True)
class Coverage:
    """Base vs adapted on each group of test queries, for one metric."""

    metric: str
    groups: dict[str, GroupVerdict]

    def sentence(self) -> str:
        """Where the lift lives, in words, with the figures."""
        seen, unseen = self.groups.get("seen"), self.groups.get("unseen")
        name = self.metric.upper()
        if unseen is None:
            if seen is None:
                return "No test query to split."
            return (
                f"{name} {seen.describe()}. Every test query points at a document training saw: the figure shows how "
                "well the model learned those documents, not how it does on new ones; to measure those, hold "
                "documents out (embedlab benchmark build --split-by document)."
            )
        if seen is None:
            return (
                f"{name} {unseen.describe()}. No test document was seen in training: the figure measures new documents."
            )
        figures = f"{name} {seen.describe()}; {unseen.describe()}."
        if unseen.test.verdict == "worse":
            return (
                f"{figures} The adapted model is worse than the base on new documents: keep the base for a corpus that "
                "grows, or adapt more gently (fewer steps, a lower learning rate, general pairs mixed in)."
            )
        if seen.test.verdict == "better" and unseen.test.verdict != "better":
            return (
                f"{figures} The lift lives only in documents seen in training: on new documents the adapted model is "
                "no better than the base."
            )
        if unseen.test.verdict == "better":
            return f"{figures} The lift holds on documents training never saw."
        return f"{figures} Neither group improves significantly."

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the metric, each group's figures and test, and the sentence."""
        return {"metric": self.metric, **{g: v.to_dict() for g, v in self.groups.items()}, "verdict": self.sentence()}


def coverage(report: EvaluationReport, system: str, *, metric: str = "ndcg@10") -> Coverage:
    """``system`` against the report's baseline on the ``seen`` and ``unseen`` tasks (those it has)."""
    baseline = report.systems[0]
    adapted = next(s for s in report.systems if s.name == system)
    groups: dict[str, GroupVerdict] = {}
    for group in GROUPS:
        if group not in baseline.results or group not in adapted.results:
            continue
        test = next(c.test for c in report.comparisons if (c.task, c.system, c.metric) == (group, system, metric))
        base_ci, adapted_ci = baseline.results[group].ci[metric], adapted.results[group].ci[metric]
        groups[group] = GroupVerdict(group, test.n, base_ci, adapted_ci, test)
    return Coverage(metric, groups)
