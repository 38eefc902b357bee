"""The monitor's history: one SQLite file inside the index folder (``INDEX/monitor/history.sqlite3``).

Two tables, in WAL mode so that the server can log while ``monitor run`` or a report reads:

- ``runs``: one row per ``monitor run`` (time, alarm, every signal as JSON);
- ``queries``: queries the server sampled (time, text, top score, empty result, abstention) and queries
  that ``monitor run`` read from a log.

Each write is one short transaction; several processes may write at once (SQLite's locking, with a busy
timeout). Not for network file systems (WAL needs local locking).

Example:
    >>> history = History(tmp / "monitor")
    >>> history.log_queries([QueryRecord(time=1.0, query="hello", top_score=0.8)])
    1
    >>> [record.query for record in history.queries()]
    ['hello']
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedlab.errors import EmbedlabError

FILE = "history.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, time REAL NOT NULL, alarm INTEGER NOT NULL,
                                 signals TEXT NOT NULL, extra TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queries (id INTEGER PRIMARY KEY, time REAL NOT NULL, query TEXT NOT NULL,
                                    top_score REAL, empty INTEGER NOT NULL, abstained INTEGER NOT NULL,
                                    source TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS queries_time ON queries(time);
"""


@dataclass(frozen=True)
class QueryRecord:
    """One logged query: when, its text, its best vector score (``None`` when unknown), empty, abstained."""

    time: float
    query: str
    top_score: float | None = None
    empty: bool = False
    abstained: bool = False
    source: str = "server"


@dataclass(frozen=True)
class Run:
    """One ``monitor run``: its id, time, whether it alarmed, its signals (dicts of :class:`~.drift.Signal`)."""

    id: int
    time: float
    alarm: bool
    signals: list[dict[str, Any]]
    extra: dict[str, Any]


class History:
    """The history file of one monitored index (created on first use)."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / FILE
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as connection:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise EmbedlabError(f"Cannot open the monitor history {self.path}: {exc}.") from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30.0)) as connection, connection:
            yield connection

    def log_queries(self, records: Sequence[QueryRecord]) -> int:
        """Append query records in one transaction; return how many."""
        rows = [(r.time, r.query, r.top_score, int(r.empty), int(r.abstained), r.source) for r in records]
        with self._connect() as connection:
            connection.executemany(
                "INSERT INTO queries (time, query, top_score, empty, abstained, source) VALUES (?, ?, ?, ?, ?, ?)", rows
            )
        return len(rows)

    def queries(self, *, since: float = 0.0, source: str | None = None, limit: int | None = None) -> list[QueryRecord]:
        """Logged queries after ``since`` (a Unix time), oldest first; the last ``limit`` when given."""
        where, arguments = "time > ?", list[float | str]([since])
        if source is not None:
            where, arguments = where + " AND source = ?", [*arguments, source]
        sql = f"SELECT time, query, top_score, empty, abstained, source FROM queries WHERE {where} ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._connect() as connection:
            rows = connection.execute(sql, arguments).fetchall()
        return [QueryRecord(t, q, s, bool(e), bool(a), src) for t, q, s, e, a, src in reversed(rows)]

    def append_run(self, alarm: bool, signals: Sequence[dict[str, Any]], extra: dict[str, Any] | None = None) -> int:
        """Append one run; return its id."""
        with self._connect() as connection:
            cursor = connection.execute(
                "INSERT INTO runs (time, alarm, signals, extra) VALUES (?, ?, ?, ?)",
                (time.time(), int(alarm), json.dumps(list(signals)), json.dumps(extra or {})),
            )
        return int(cursor.lastrowid or 0)

    def runs(self) -> list[Run]:
        """Every run, oldest first."""
        with self._connect() as connection:
            rows = connection.execute("SELECT id, time, alarm, signals, extra FROM runs ORDER BY id").fetchall()
        return [Run(i, t, bool(a), json.loads(s), json.loads(e)) for i, t, a, s, e in rows]

    def latest(self) -> Run | None:
        """The last run, or ``None`` before the first."""
        with self._connect() as connection:
            sql = "SELECT id, time, alarm, signals, extra FROM runs ORDER BY id DESC LIMIT 1"
            row = connection.execute(sql).fetchone()
        return None if row is None else Run(row[0], row[1], bool(row[2]), json.loads(row[3]), json.loads(row[4]))
