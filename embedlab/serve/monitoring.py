"""What the server does for ``embedlab monitor``: log sampled searches, export the latest run as gauges.

A served index is monitored when it has a baseline (``INDEX/monitor/baseline.json``, from ``embedlab
monitor init``). Each search of it offers one record to its :class:`~embedlab.operate.monitor.querylog.QueryLogger`
(the query, its best vector score, empty, abstained: best score under ``INDEX/threshold.json``'s value),
which a background thread writes to the index's history. ``/metrics`` then shows, per monitored index,
the latest run's signals (``embedlab_monitor_signal``, ``embedlab_monitor_p_value``,
``embedlab_monitor_adjusted_p_value``: Holm-corrected, for the drift tests; ``embedlab_monitor_alarm``) and
the logger's counts (``embedlab_monitor_queries{state=...}``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class ServedMonitors:
    """The query loggers of the monitored indexes among ``indexes`` (``{name: Index}``) and their gauges."""

    def __init__(self, indexes: dict[str, Any], registry: Any, *, sample: float = 1.0) -> None:
        from prometheus_client import Gauge

        monitored = {name: index.path for name, index in indexes.items()
                     if sample > 0 and (Path(index.path) / "monitor" / "baseline.json").is_file()}  # fmt: skip
        self.loggers: dict[str, Any] = {}
        self.thresholds: dict[str, float | None] = {}
        if monitored:
            from embedlab.operate.monitor.baseline import FOLDER, read_threshold
            from embedlab.operate.monitor.history import History
            from embedlab.operate.monitor.querylog import QueryLogger

            for name, path in monitored.items():
                self.loggers[name] = QueryLogger(History(Path(path) / FOLDER), sample=sample)
                self.thresholds[name] = read_threshold(Path(path))
        labels = ["index", "signal"]
        self.value = Gauge("embedlab_monitor_signal", "Latest monitor run: each signal's value", labels,
                           registry=registry)  # fmt: skip
        self.p_value = Gauge("embedlab_monitor_p_value", "Latest monitor run: each test's p-value", labels,
                             registry=registry)  # fmt: skip
        self.adjusted_p = Gauge("embedlab_monitor_adjusted_p_value",
                                "Latest monitor run: each drift test's Holm-adjusted p-value (what its alarm reads)",
                                labels, registry=registry)  # fmt: skip
        self.alarm = Gauge("embedlab_monitor_alarm", "Latest monitor run: 1 when the signal alarmed", labels,
                           registry=registry)  # fmt: skip
        self.run_time = Gauge("embedlab_monitor_run_time", "Unix time of the latest monitor run", ["index"],
                              registry=registry)  # fmt: skip
        self.queries = Gauge("embedlab_monitor_queries", "Searches offered to, written to or dropped by the query log",
                             ["index", "state"], registry=registry)  # fmt: skip

    def start(self) -> None:
        """Start the loggers' writer threads."""
        for logger in self.loggers.values():
            logger.start()

    def stop(self) -> None:
        """Write what is queued and stop."""
        for logger in self.loggers.values():
            logger.stop()

    def log(self, index: str, query: str, hits: Sequence[Any]) -> None:
        """Offer one search's record to its index's logger (nothing when the index is not monitored)."""
        logger = self.loggers.get(index)
        if logger is None:
            return
        from embedlab.operate.monitor.history import QueryRecord

        scores = [hit.components["vector"] for hit in hits if "vector" in hit.components]
        best = max(scores) if scores else None
        threshold = self.thresholds[index]
        abstained = threshold is not None and (best is None or best < threshold)
        logger.offer(QueryRecord(time=time.time(), query=query, top_score=best, empty=not hits, abstained=abstained))

    def refresh(self) -> None:
        """Set the gauges from each monitored index's latest run and its logger (a quick SQLite read each)."""
        from embedlab.operate.monitor.querylog import latest_runs

        for name, run in latest_runs({name: logger.history for name, logger in self.loggers.items()}).items():
            self.run_time.labels(name).set(run.time)
            for signal in run.signals:
                self.value.labels(name, signal["name"]).set(signal["value"])
                self.alarm.labels(name, signal["name"]).set(float(signal["alarm"]))
                if signal["p_value"] is not None:
                    self.p_value.labels(name, signal["name"]).set(signal["p_value"])
                if signal.get("adjusted_p") is not None:  # runs recorded before the correction have none
                    self.adjusted_p.labels(name, signal["name"]).set(signal["adjusted_p"])
        for name, logger in self.loggers.items():
            for state in ("offered", "written", "dropped", "failed"):
                self.queries.labels(name, state).set(getattr(logger, state))
