"""The run's false-alarm rate: Holm's step-down correction over the query tests of one ``monitor run``.

Each query test (:data:`DRIFT_FAMILY`: score shifts, the empty rate, MMD, the domain classifier) compares two
random samples of queries, so under no drift each alarms at its own rate ``alpha``; five of them alarmed
somewhere in about 16% of null runs. :func:`correct` adjusts their p-values with Holm's method so that the
chance that *any* of them alarms under no drift is at most ``alpha`` (the family-wise error rate), for any
dependence between the tests. Each signal keeps its raw ``p_value`` and gets its ``adjusted_p``; its alarm is
``adjusted_p < alpha``.

The canary metrics and corpus coverage are not in the family: they are paired tests of the *same* fixed
queries before and after, so on an unchanged model and index every difference is 0 and their p-value is 1
(they cannot alarm by chance), and they ask another question (did quality fall?) that should not pay for the
number of drift tests. The probe check has no p-value.

Example:
    >>> holm([0.01, 0.04, 0.03, 0.005]).round(4).tolist()
    [0.03, 0.06, 0.06, 0.02]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from embedlab.errors import InputError
from embedlab.operate.monitor.drift import Signal

DRIFT_FAMILY = ("top1_score_ks", "topk_score_ks", "empty_rate", "query_mmd", "query_classifier_auc")
METHOD = "holm"


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values, in the input's order: the i-th smallest times ``m - i + 1``, made monotone, capped at 1.

    Rejecting every hypothesis whose adjusted p-value is under ``alpha`` is Holm's step-down procedure
    (family-wise error rate at most ``alpha``, under any dependence).
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise InputError(f"Holm's correction needs a list of p-values in [0, 1], got {p_values!r}.")
    order = np.argsort(p, kind="stable")
    steps = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(steps, 1.0)
    return adjusted


def correct(signals: Sequence[Signal], *, alpha: float, family: Sequence[str] = DRIFT_FAMILY) -> list[Signal]:
    """``signals`` with those named in ``family`` Holm-adjusted: ``adjusted_p`` set, alarm on it; others unchanged."""
    members = [(i, s.p_value) for i, s in enumerate(signals) if s.name in family and s.p_value is not None]
    adjusted = holm([p for _, p in members])
    result = list(signals)
    for (i, _), p in zip(members, adjusted.tolist(), strict=True):
        result[i] = replace(signals[i], adjusted_p=p, alarm=p < alpha)
    return result


def describe(correction: dict[str, Any]) -> str | None:
    """How a run's alarms were decided, in one line (``None``: a run recorded before the correction).

    ``correction`` is a run's record of it (:attr:`~embedlab.operate.monitor.run.MonitorRun.correction`).

    Example:
        >>> describe({"method": "holm", "alpha": 0.05, "family": ["query_mmd", "empty_rate"]})[:44]
        'adjusted p: Holm over the 2 query tests, whi'
    """
    family = correction.get("family")
    if not family:
        return None
    return (f"adjusted p: Holm over the {len(family)} query tests, which together alarm by chance in at most "
            f"{correction['alpha']:g} of runs; the other tests alarm on their own p-value.")  # fmt: skip
