"""Monitoring a served index: canary quality, score and query drift, corpus drift, silent model swaps.

``init_monitor`` records a baseline in ``INDEX/monitor/`` (:mod:`.baseline`); ``run_monitor`` measures every
signal against it with calibrated tests (the query tests Holm-corrected together: :mod:`.family`) and appends
the run to the history (:mod:`.run`, :mod:`.drift`, :mod:`.probes`, :mod:`.history`); the server samples its
queries into the same history (:mod:`.querylog`); ``write_report`` draws the history as an HTML dashboard
(:mod:`.report`).

Example:
    >>> # not run: needs a built index and a canary file
    >>> init_monitor("my-index", canary=read_canary("canary.jsonl"))  # doctest: +SKIP
    >>> run_monitor("my-index", queries=read_queries("queries.txt")).alarm  # doctest: +SKIP
    False
"""

from __future__ import annotations

from embedlab.operate.monitor.baseline import Baseline, init_monitor, read_canary, read_queries, read_threshold
from embedlab.operate.monitor.drift import Signal, classifier_test, mmd_test, rate_shift, score_shift
from embedlab.operate.monitor.family import DRIFT_FAMILY, correct, holm
from embedlab.operate.monitor.history import History, QueryRecord
from embedlab.operate.monitor.probes import PROBES, probe_check
from embedlab.operate.monitor.run import MonitorRun, run_monitor

__all__ = ["DRIFT_FAMILY", "PROBES", "Baseline", "History", "MonitorRun", "QueryRecord", "Signal", "classifier_test",
           "correct", "holm", "init_monitor", "mmd_test", "probe_check", "rate_shift", "read_canary", "read_queries",
           "read_threshold", "run_monitor", "score_shift"]  # fmt: skip
