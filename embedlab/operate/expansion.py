"""Decide query expansion on your own benchmark: each search mode with and without it, and the verdict kept.

Query expansion (:mod:`embedlab.index.expansion`) helps some corpora and hurts others, so it is off until
a benchmark says otherwise. :func:`measure_expansion` scores BM25 and hybrid search through the index with
and without it (NDCG@10 with 95% intervals, and the paired randomisation test over queries);
:func:`tune_expansion` also records the verdict in ``index.json`` (``"expand": {"bm25": ..., "hybrid": ...}``),
which searches that leave ``expand`` unset then follow. A mode is switched on only when expansion is
significantly better (p < 0.05), and off otherwise, even if an earlier tuning switched it on.

Example:
    >>> decision = tune_expansion(index, bench)  # an Index and a RetrievalBenchmark of its corpus  # doctest: +SKIP
    >>> decision.setting  # doctest: +SKIP
    {'bm25': False, 'hybrid': False}
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from embedlab.errors import InputError
from embedlab.evaluate.data import BenchmarkWarning
from embedlab.evaluate.retrieval import evaluate
from embedlab.evaluate.stats import Estimate, PairedComparison, paired_test
from embedlab.index.settings import update_settings

if TYPE_CHECKING:
    from embedlab.evaluate.data import RetrievalBenchmark
    from embedlab.index import Index
    from embedlab.index.options import Mode

METRIC = "ndcg@10"
MODES = ("bm25", "hybrid")


@dataclass(frozen=True)
class ExpansionTrial:
    """One mode's scores without and with expansion, and the paired test of the difference (with minus without).

    ``ms_per_query``: the time per query of the plain and the expanded search.
    """

    mode: str
    without: Estimate
    expanded: Estimate
    test: PairedComparison
    ms_per_query: tuple[float, float] = (0.0, 0.0)

    @property
    def helps(self) -> bool:
        """Expansion is significantly better in this mode (p < 0.05 and a positive difference)."""
        return self.test.verdict == "better"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"mode": self.mode, "without": self.without.to_dict(), "expanded": self.expanded.to_dict(),
                "test": self.test.to_dict(), "helps": self.helps, "ms_per_query": list(self.ms_per_query)}  # fmt: skip


@dataclass(frozen=True)
class ExpansionDecision:
    """The trials of each mode on a benchmark of ``queries`` queries, scored by ``metric``."""

    trials: tuple[ExpansionTrial, ...]
    queries: int
    metric: str = METRIC

    @property
    def setting(self) -> dict[str, bool]:
        """``{mode: on}``: what :func:`tune_expansion` records in the index's settings."""
        return {trial.mode: trial.helps for trial in self.trials}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"metric": self.metric, "queries": self.queries, "setting": self.setting,
                "trials": [trial.to_dict() for trial in self.trials]}  # fmt: skip


def measure_expansion(
    index: Index, benchmark: RetrievalBenchmark, *, modes: Sequence[str] = MODES, metric: str = METRIC
) -> ExpansionDecision:
    """Score each of ``modes`` through ``index`` on ``benchmark`` without and with query expansion.

    Raises:
        InputError: a mode other than bm25 or hybrid, or none.
    """
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown or not modes:
        raise InputError(f"Query expansion applies to the modes {' and '.join(MODES)}; got {list(modes)}.")
    trials = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BenchmarkWarning)
        for mode in dict.fromkeys(modes):
            plain, expanded = (
                evaluate(index.search_fn(cast("Mode", mode), expand=on), benchmark) for on in (False, True)
            )
            test = paired_test(plain.values(metric), expanded.values(metric))
            speed = (plain.speed["ms_per_query"], expanded.speed["ms_per_query"])
            trials.append(ExpansionTrial(mode, plain.ci[metric], expanded.ci[metric], test, speed))
    return ExpansionDecision(tuple(trials), len(benchmark.queries), metric)


def tune_expansion(
    index: Index, benchmark: RetrievalBenchmark, *, modes: Sequence[str] = MODES, apply: bool = True
) -> ExpansionDecision:
    """:func:`measure_expansion`, and (``apply``) record in the index which modes expand by default."""
    decision = measure_expansion(index, benchmark, modes=modes)
    if apply:
        current = index.settings.get("expand", {})
        update_settings(index.path, index.settings, {"expand": {**current, **decision.setting}})
    return decision
