"""A persistent, content-addressed embedding cache in one SQLite file.

Each row is keyed by the sha256 of (model fingerprint, encoding options, normalised text) and holds the
float32 vector as raw bytes, the text's token count (so truncation can be reported for cached texts
too) and a checksum of all three with the key. Nothing is pickled. A row whose checksum does not match
(bit rot, a stray write, a vector moved to another key) is never served: it is a miss, the caller
recomputes it and :meth:`EmbeddingCache.put_many` overwrites it, and a :class:`CacheIntegrityWarning`
counts such rows. Rows written before rows carried checksums are misses too, rewritten on first use.

SQLite in WAL mode lets several processes read and write the same file at once: writers queue on a lock
(``timeout`` seconds), every batch is one transaction, so a process killed mid-write leaves the rows it
committed and nothing half-written.

Why SQLite rather than a cache library: ``diskcache`` pickles values by default, and a key-value store
such as LMDB needs its map size planned; SQLite ships with Python, is safe across processes, and a
batched ``SELECT ... IN`` returns thousands of vectors in milliseconds.

Example:
    >>> from embedlab import Encoder
    >>> cache = EmbeddingCache(tmp / "cache.sqlite3")
    >>> encoder = Encoder(model, cache=cache)  # model: a loaded EmbeddingModel, load_model()
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.errors import CacheError, CacheIntegrityWarning

_SCHEMA_VERSION = "1"
_SELECT_CHUNK = 500
_MIN_PREFIX = 8
_CHECKSUM_BYTES = 16


def default_cache_path() -> Path:
    """``$EMBEDLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/embedlab``, else ``~/.cache/embedlab``; file inside."""
    base = os.environ.get("EMBEDLAB_CACHE_DIR")
    root = Path(base) if base else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "embedlab"
    return root / "embeddings.sqlite3"


@dataclass(frozen=True)
class CacheStats:
    """Size of a cache: how many vectors, how many models, how many bytes on disk."""

    path: str
    entries: int
    models: int
    size_bytes: int


class EmbeddingCache:
    """Vectors stored by content hash in a SQLite file, safe for concurrent processes.

    Args:
        path: the SQLite file (created with its folder); default :func:`default_cache_path`.
        timeout: seconds a writer waits for another process's write to finish.
    """

    def __init__(self, path: str | Path | None = None, *, timeout: float = 60.0) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.timeout = timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1

    @staticmethod
    def key(fingerprint: str, options: dict[str, Any], text: str) -> bytes:
        """The 32-byte content address of one text under one model and one set of options."""
        payload = json.dumps([fingerprint, options, text], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).digest()

    def get_many(self, keys: Sequence[bytes], dimension: int) -> dict[int, tuple[np.ndarray, int]]:
        """Look up keys; return ``{position in keys: (float32 vector, token count)}`` for the hits.

        Rows whose stored vector does not have ``dimension`` floats are misses. So are rows whose checksum
        does not match or that have none (written before checksums); a :class:`CacheIntegrityWarning` counts them.
        """
        positions: dict[bytes, list[int]] = {}
        for position, key in enumerate(keys):
            positions.setdefault(key, []).append(position)
        unique = list(positions)
        hits: dict[int, tuple[np.ndarray, int]] = {}
        corrupt = unchecked = 0
        with self._lock:
            conn = self._connection()
            for start in range(0, len(unique), _SELECT_CHUNK):
                chunk = unique[start : start + _SELECT_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._run(
                    conn,
                    f"SELECT key, dim, n_tokens, vector, checksum FROM embeddings WHERE key IN ({marks})",
                    chunk,
                )
                for key, dim, n_tokens, blob, checksum in rows:
                    if checksum is None:
                        unchecked += 1
                        continue
                    if checksum != _checksum(key, dim, n_tokens, blob):
                        corrupt += 1
                        continue
                    if dim != dimension or len(blob) != 4 * dimension:
                        continue
                    vector = np.frombuffer(blob, dtype=np.float32)
                    for position in positions[key]:
                        hits[position] = (vector, int(n_tokens))
        if corrupt:
            warnings.warn(
                f"{corrupt} cached vectors in {self.path} failed their integrity check (corrupt rows); they are "
                "recomputed and overwritten instead of served.",
                CacheIntegrityWarning,
                stacklevel=2,
            )
        if unchecked:
            warnings.warn(
                f"{unchecked} cached vectors in {self.path} were written before cache rows carried a checksum; "
                "they are recomputed once and rewritten with one.",
                CacheIntegrityWarning,
                stacklevel=2,
            )
        return hits

    def put_many(self, fingerprint: str, items: Iterable[tuple[bytes, np.ndarray, int]]) -> None:
        """Store ``(key, vector, token count)`` rows in one transaction, replacing rows of the same key.

        Vectors with NaN or infinite values are not stored.
        """
        rows = []
        for key, vector, n_tokens in items:
            values = np.ascontiguousarray(vector, np.float32)
            if not np.isfinite(values).all():
                continue
            blob, dim, count = values.tobytes(), int(values.shape[0]), int(n_tokens)
            rows.append((key, fingerprint[:16], dim, count, blob, _checksum(key, dim, count, blob)))
        if not rows:
            return
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO embeddings (key, model, dim, n_tokens, vector, checksum) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET model = excluded.model, dim = excluded.dim, "
                    "n_tokens = excluded.n_tokens, vector = excluded.vector, checksum = excluded.checksum",
                    rows,
                )
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise self._error(exc) from exc

    def stats(self) -> CacheStats:
        """Count the entries and models, and measure the file."""
        with self._lock:
            conn = self._connection()
            ((entries, models),) = self._run(conn, "SELECT COUNT(*), COUNT(DISTINCT model) FROM embeddings", [])
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return CacheStats(path=str(self.path), entries=int(entries), models=int(models), size_bytes=size)

    def clear(self, fingerprint: str | None = None) -> int:
        """Delete every entry, or only one model's (its fingerprint or a prefix of 8+ hex digits).

        Raises:
            CacheError: a prefix shorter than 8 characters (it could match several models).
        """
        if fingerprint is not None and len(fingerprint) < _MIN_PREFIX:
            raise CacheError(f"Give at least {_MIN_PREFIX} hex digits of the model fingerprint, got {fingerprint!r}.")
        with self._lock:
            conn = self._connection()
            if fingerprint is None:
                cursor = conn.execute("DELETE FROM embeddings")
            else:
                prefix = fingerprint[:16].lower()
                cursor = conn.execute("DELETE FROM embeddings WHERE substr(model, 1, ?) = ?", (len(prefix), prefix))
            return int(cursor.rowcount)

    def close(self) -> None:
        """Close this process's connection (it is reopened on next use)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"The embedding cache {self.path} cannot be created there ({exc}).") from exc
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "meta" not in tables:
                conn.close()
                raise CacheError(
                    f"{self.path} is an SQLite database but not an embedlab cache (tables: "
                    f"{', '.join(sorted(tables))}); refusing to write into it. Give another --cache-path (or "
                    "EMBEDLAB_CACHE_DIR)."
                )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (key BLOB PRIMARY KEY, model TEXT NOT NULL, "
                "dim INTEGER NOT NULL, n_tokens INTEGER NOT NULL, vector BLOB NOT NULL, checksum BLOB) WITHOUT ROWID"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS embeddings_model ON embeddings (model)")
            conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (_SCHEMA_VERSION,))
            (schema,) = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if schema == _SCHEMA_VERSION:
                _add_checksum_column(conn)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        if schema != _SCHEMA_VERSION:
            conn.close()
            raise CacheError(f"{self.path} has cache schema {schema}, this embedlab writes {_SCHEMA_VERSION}.")
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _run(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Any]:
        try:
            return conn.execute(sql, list(params)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def _error(self, exc: sqlite3.Error) -> CacheError:
        return CacheError(
            f"The embedding cache {self.path} cannot be used ({exc}). If it is corrupt, delete it (vectors are "
            "recomputed on demand) or point EMBEDLAB_CACHE_DIR at another folder; or encode without a cache."
        )


def _checksum(key: bytes, dim: int, n_tokens: int, blob: bytes) -> bytes:
    """A row's integrity check: BLAKE2b over its key, dimension, token count and vector bytes."""
    digest = hashlib.blake2b(key, digest_size=_CHECKSUM_BYTES)
    digest.update(f"{dim}:{n_tokens}:".encode())
    digest.update(blob)
    return digest.digest()


def _add_checksum_column(conn: sqlite3.Connection) -> None:
    """Give a cache made before rows carried checksums its column (old rows stay, as misses until rewritten)."""
    if _has_checksum_column(conn):
        return
    conn.execute("BEGIN IMMEDIATE")  # another process may be adding it at the same moment
    try:
        if not _has_checksum_column(conn):
            conn.execute("ALTER TABLE embeddings ADD COLUMN checksum BLOB")
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _has_checksum_column(conn: sqlite3.Connection) -> bool:
    return any(row[1] == "checksum" for row in conn.execute("PRAGMA table_info(embeddings)"))
