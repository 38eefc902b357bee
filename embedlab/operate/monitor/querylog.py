"""The server's side of monitoring: sample searches into the history without slowing requests.

A request only puts a small record on a bounded in-memory queue (``put_nowait``: no I/O, no lock held
for long); one background thread writes the queue to the history in batches: it gathers what arrives within
``interval`` seconds of a batch's first record (or ``batch`` records) into one SQLite transaction, since
a transaction per record costs a connection and a sync each (about 2 ms of CPU, 8% of a search here).
When the queue is full the record is dropped and counted, never waited for: under any load a request
costs the same. :meth:`QueryLogger.stop` writes what is queued before it returns.

Example:
    >>> logger = QueryLogger(History(tmp / "monitor"))
    >>> logger.start(); logger.offer(QueryRecord(time=1.0, query="hello")); logger.stop()
    True
    >>> logger.written, logger.dropped, logger.failed
    (1, 0, 0)
"""

from __future__ import annotations

import logging
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any

from embedlab.operate.monitor.history import History, QueryRecord, Run

log = logging.getLogger("embedlab.monitor")

CAPACITY = 10_000
BATCH = 512
INTERVAL = 0.5
_STOP = object()


class QueryLogger:
    """Write sampled query records to a :class:`History` on a background thread.

    Args:
        history: where the records go.
        sample: the share of offered records kept (1.0: all), drawn at random.
        capacity: records the queue holds; beyond it they are dropped and counted in ``dropped``.
        batch: most records in one transaction.
        interval: seconds a batch waits for more records after its first.
    """

    def __init__(
        self, history: History, *, sample: float = 1.0, capacity: int = CAPACITY, batch: int = BATCH,
        interval: float = INTERVAL,
    ) -> None:  # fmt: skip
        self.history = history
        self.sample = sample
        self.batch = batch
        self.interval = interval
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=capacity)
        self._thread: threading.Thread | None = None
        self.offered = self.written = self.dropped = 0  # ``offer`` runs on one thread (the server's event loop)
        self.failed = 0  # records the writer thread could not write (counted there)

    def start(self) -> None:
        """Start the writer thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="embedlab-querylog", daemon=True)
            self._thread.start()

    def offer(self, record: QueryRecord) -> bool:
        """Queue ``record`` if sampled and there is room (never blocks); ``False`` when it was dropped."""
        self.offered += 1
        if self.sample < 1.0 and random.random() >= self.sample:
            return False
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """Write everything queued, then end the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def _work(self) -> None:
        while True:
            pending: list[QueryRecord] = []
            item = self._queue.get()
            stop = item is _STOP
            if not stop:
                pending.append(item)
            deadline = time.monotonic() + self.interval
            while not stop and len(pending) < self.batch:
                try:
                    item = self._queue.get(timeout=max(deadline - time.monotonic(), 0.0))
                except queue.Empty:
                    break
                stop = item is _STOP
                if not stop:
                    pending.append(item)
            self._write(pending)
            if stop:
                return

    def _write(self, records: Sequence[QueryRecord]) -> None:
        if not records:
            return
        try:
            self.written += self.history.log_queries(records)
        except sqlite3.Error as exc:  # a full disk or a locked file must not stop the server
            self.failed += len(records)
            log.warning("monitor history %s: %d queries not written (%s)", self.history.path, len(records), exc)


def latest_runs(histories: dict[str, History]) -> dict[str, Run]:
    """The latest monitor run of each monitored index that has one (for the server's gauges)."""
    runs = {}
    for name, history in histories.items():
        try:
            run = history.latest()
        except sqlite3.Error as exc:
            log.warning("monitor history %s unreadable: %s", history.path, exc)
            continue
        if run is not None:
            runs[name] = run
    return runs
