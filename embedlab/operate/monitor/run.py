"""``monitor run``: every signal against the baseline, one alarm verdict, appended to the history.

Signals (each a :class:`~embedlab.operate.monitor.drift.Signal`):

- ``probe_mismatch``: the probe sentences re-encoded by what encodes the index's queries (a check);
- ``canary_<metric>``: canary quality now vs the baseline, query by query (paired randomisation test,
  :func:`embedlab.evaluate.stats.paired_test`); alarms only when significantly worse;
- ``top1_score_ks``, ``topk_score_ks``: the current queries' best / mean top-k scores vs the reference's;
- ``empty_rate``: the share of current queries whose best score is under the threshold (when there is one);
- ``query_mmd``, ``query_classifier_auc``: query drift, each with a permutation test;
- ``corpus_coverage``: the reference queries' best scores now vs at the baseline (paired test; alarms
  when significantly lower), with documents added and removed and the centroid's shift in ``detail``.

``alpha`` is the false-alarm rate of the run's query tests together (score shifts, empty rate, query drift):
their p-values are Holm-adjusted and they alarm on the adjusted one (:mod:`.family`). The canary and corpus
tests alarm at ``alpha`` each; on an unchanged model and index their p-value is 1.

The current queries come from a log (``queries``) or, without one, from what the server sampled into the
history since the last run. Fewer than ``min_queries`` skips the query signals, with a note.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.evaluate.stats import paired_test
from embedlab.index import Index
from embedlab.operate.monitor.baseline import (
    FOLDER,
    Baseline,
    canary_result,
    model_record,
    snapshot,
    top_scores,
)
from embedlab.operate.monitor.drift import (
    ALPHA,
    PERMUTATIONS,
    Signal,
    classifier_test,
    mmd_test,
    rate_shift,
    score_shift,
)
from embedlab.operate.monitor.family import METHOD, correct
from embedlab.operate.monitor.history import History, QueryRecord
from embedlab.operate.monitor.probes import PROBES, TOLERANCE, probe_check

MIN_QUERIES = 20
MAX_QUERIES = 1000  # current queries tested (a seeded sample of more): the MMD kernel is (reference + current)²
DRIFTED_SHOWN = 10


@dataclass
class MonitorRun:
    """The outcome of one run: its signals, notes on what was skipped, the most drifted queries, its history id.

    ``correction`` says how the query tests were corrected together (method, alpha, the family's signals).
    """

    signals: list[Signal]
    notes: list[str] = field(default_factory=list)
    drifted: list[dict[str, Any]] = field(default_factory=list)
    run_id: int = 0
    correction: dict[str, Any] = field(default_factory=dict)

    @property
    def alarm(self) -> bool:
        """Whether any signal alarmed."""
        return any(signal.alarm for signal in self.signals)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"alarm": self.alarm, "run_id": self.run_id, "signals": [s.to_dict() for s in self.signals],
                "notes": self.notes, "drifted": self.drifted, "correction": self.correction}  # fmt: skip


def canary_signals(baseline: Baseline, result: Any, *, alpha: float = ALPHA) -> list[Signal]:
    """Each canary metric now vs the baseline: a paired test over the canary queries, alarm when worse."""
    signals = []
    query_ids = list(baseline.canary_per_query)
    for metric in baseline.canary_mean:
        before = np.array([baseline.canary_per_query[q][metric] for q in query_ids])
        after = np.array([result.per_query[q][metric] for q in query_ids])
        test = paired_test(before, after, alpha=alpha)
        detail = {"baseline": float(before.mean()), "ci": result.ci[metric].to_dict(),
                  "difference": test.difference.to_dict(), "verdict": test.verdict}  # fmt: skip
        signals.append(Signal(f"canary_{metric}", float(after.mean()), test.p_value, test.verdict == "worse", detail))
    return signals


def query_signals(
    baseline: Baseline,
    vectors: np.ndarray,
    scores: np.ndarray,
    *,
    alpha: float = ALPHA,
    permutations: int = PERMUTATIONS,
    seed: int = 0,
) -> list[Signal]:
    """Score shift, empty rate and query drift of current queries (their vectors and top-k scores)."""
    reference = baseline.top_scores
    signals = [
        score_shift(reference[:, 0], scores[:, 0], alpha=alpha),
        score_shift(np.nanmean(reference, axis=1), np.nanmean(scores, axis=1), name="topk_score_ks", alpha=alpha),
    ]
    if baseline.threshold is not None:

        def empty(table: np.ndarray) -> tuple[int, int]:  # no hit, or the best under the threshold
            best = np.nan_to_num(table[:, 0], nan=-np.inf)
            return int(np.count_nonzero(best < baseline.threshold)), len(table)

        signal = rate_shift(empty(reference), empty(scores), alpha=alpha)
        signals.append(Signal(signal.name, signal.value, signal.p_value, signal.alarm,
                              {**signal.detail, "threshold": baseline.threshold}))  # fmt: skip
    signals.append(mmd_test(baseline.reference_vectors, vectors, alpha=alpha, permutations=permutations, seed=seed))
    signals.append(
        classifier_test(baseline.reference_vectors, vectors, alpha=alpha, permutations=permutations, seed=seed)
    )
    return signals


def corpus_signal(baseline: Baseline, index: Index, *, alpha: float = ALPHA) -> Signal:
    """Documents added and removed since the baseline, the centroid's shift, and coverage of the reference queries."""
    now = snapshot(index)
    before, after = set(baseline.corpus.ids), set(now.ids)
    centroid = baseline.corpus.centroid
    cosine = float(centroid @ now.centroid / max(np.linalg.norm(centroid) * np.linalg.norm(now.centroid), 1e-12))
    best_before = np.nan_to_num(baseline.top_scores[:, 0], nan=0.0)
    best_now = np.nan_to_num(top_scores(index, baseline.reference_vectors, 1)[:, 0], nan=0.0)
    test = paired_test(best_before, best_now, alpha=alpha)
    detail = {"documents": now.count, "baseline_documents": baseline.corpus.count, "added": len(after - before),
              "removed": len(before - after), "centroid_distance": 1.0 - cosine,
              "baseline_coverage": float(best_before.mean()), "difference": test.difference.to_dict()}  # fmt: skip
    return Signal("corpus_coverage", float(best_now.mean()), test.p_value, test.verdict == "worse", detail)


def run_monitor(
    index: Index | str | Path,
    *,
    queries: Sequence[str] | None = None,
    alpha: float = ALPHA,
    permutations: int = PERMUTATIONS,
    min_queries: int = MIN_QUERIES,
    tolerance: float = TOLERANCE,
    seed: int = 0,
    record: bool = True,
) -> MonitorRun:
    """Measure every signal of ``index`` against its baseline; append the run to the history when ``record``."""
    index = index if isinstance(index, Index) else Index.open(index)
    folder = index.path / FOLDER
    baseline = Baseline.load(folder)
    history = History(folder)
    notes: list[str] = []
    probe = probe_check(baseline.probes, index.encoder.encode(list(PROBES)), tolerance=tolerance)
    now_model, then_model = model_record(index), baseline.model
    changed = {key: [then_model.get(key), value] for key, value in now_model.items() if then_model.get(key) != value}
    signals = [Signal(probe.name, probe.value, None, probe.alarm, {**probe.detail, "model_changed": changed})]
    signals += canary_signals(baseline, canary_result(index, baseline.canary), alpha=alpha)
    since = history.latest()
    if queries is None:
        logged = history.queries(since=since.time if since else baseline.created, source="server")
        queries = [record.query for record in logged]
        origin = "the server's log since the last run"
    else:
        origin = "the query log given"
        if record:
            history.log_queries([QueryRecord(time=time.time(), query=q, source="log") for q in queries])
    drifted: list[dict[str, Any]] = []
    if len(queries) < min_queries:
        notes.append(f"{len(queries)} queries from {origin} (fewer than {min_queries}): query signals skipped.")
    else:
        query_list = list(queries)
        if len(query_list) > MAX_QUERIES:
            chosen = np.random.default_rng(seed).choice(len(query_list), MAX_QUERIES, replace=False)
            query_list = [query_list[i] for i in sorted(chosen)]
            notes.append(f"{len(queries)} queries from {origin}: a sample of {MAX_QUERIES} tested.")
        vectors = index.encoder.encode(query_list, task="query")
        found = query_signals(baseline, vectors, top_scores(index, vectors), alpha=alpha,
                              permutations=permutations, seed=seed)  # fmt: skip
        for signal in found:
            if signal.name == "query_classifier_auc":
                ranked = signal.detail.pop("scores")
                drifted = [{"query": query_list[i], "p_current": p} for i, p in ranked[:DRIFTED_SHOWN]]
        signals += found
    if baseline.threshold is None:
        notes.append("No threshold (INDEX/threshold.json or --min-score at init): the empty-result rate is not tested.")
    signals.append(corpus_signal(baseline, index, alpha=alpha))
    signals = correct(signals, alpha=alpha)
    family = [s.name for s in signals if s.adjusted_p is not None]
    correction = {"method": METHOD, "alpha": alpha, "family": family}
    if family and len(family) / (1 + permutations) >= alpha:
        notes.append(f"{permutations} permutations: a permutation test's smallest p-value times {len(family)} tests "
                     f"is not under {alpha}, so it cannot alarm first; use at least {int(len(family) / alpha)} "
                     "permutations.")  # fmt: skip
    result = MonitorRun(signals, notes, drifted, correction=correction)
    if record:
        extra = {"notes": notes, "drifted": drifted, "queries": len(queries), "correction": correction}
        result.run_id = history.append_run(result.alarm, [s.to_dict() for s in signals], extra)
    return result
