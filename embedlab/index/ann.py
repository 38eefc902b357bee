"""The ANN accelerator of an index's vector search: an HNSW graph kept in step with the LanceDB table.

LanceDB stays the source of truth; the accelerator is a derived cache that can always be rebuilt from it.
:class:`Accelerator` ties a graph (:class:`~embedlab.index.hnsw.AnnIndex`) to an index's rows and keeps an
in-memory copy of the columns a hit shows (``doc_id``, ``chunk``, ``text``, metadata), so a search never
reads LanceDB: about 2 GB for a million 384-d rows, graph included. ``ann="auto"`` turns it on from
:data:`ANN_AUTO_ROWS` rows; ``True`` or ``False`` forces it.

How it stays consistent with the table:

- Every row has an int64 ``label`` that is never reused: the index reserves labels in ``index.json``
  *before* it writes rows, so a crash leaves only gaps, and an upserted row gets a new label.
- A deleted or replaced row's position is marked dead; the graph is rebuilt without the dead positions
  once they are more than :data:`COMPACT_SHARE` of it.
- Before a search, if the table's version differs from the one the accelerator reflects (a write by this
  or any other process), :meth:`Accelerator.sync` reads the table's ``label`` column (about 0.1 s per
  million rows), inserts the rows whose labels the graph lacks, and marks dead the graph's labels the
  table no longer has. Dead positions and the table version are therefore never saved: they are recomputed.
- The graph is saved (:func:`~embedlab.index.hnsw.save`) when it was built from scratch or compacted, when
  the rows added since the last save exceed :data:`SAVE_SHARE` of it, and on ``sync(save=True)`` if any
  were added (``Index.sync_ann``). Writing the whole graph is what a save costs, while a restart only
  re-inserts the rows added since, so small changes are not saved at once; a crash loses nothing.
- A saved graph that cannot be read, fails its checksum, or whose vectors differ from LanceDB's for a
  sample of rows (an ``index.json`` restored from an old copy could have reused labels) is rebuilt, with
  an :class:`~embedlab.index.hnsw.AnnRebuildWarning`; it never stops the index from opening or searching.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from embedlab.errors import IndexDataError
from embedlab.index import hnsw
from embedlab.index.compact import DEFAULT_RESCORE
from embedlab.index.hits import Candidates, LazyRow
from embedlab.index.hnsw import BATCH, EF_CONSTRUCTION, EF_SEARCH, AnnIndex, AnnRebuildWarning, M, unit
from embedlab.index.rows import Rows
from embedlab.index.settings import Ann, update_settings

ANN_AUTO_ROWS = 10_000  # ann="auto": below this many rows LanceDB's exact scan takes ~10 ms or less
COMPACT_SHARE = 0.2  # rebuild the graph once this share of its positions is dead
SAVE_SHARE = 0.1  # save once the rows added since the last save are this share of the graph
_SAMPLE = 16  # rows whose vectors are compared with LanceDB's after loading a saved graph
_FILTERS = 16  # filters whose matching positions are remembered (until the table changes)
_RACY_NS = 1_000_000_000  # a version folder stamped this close to a check could change again, same stamp


class MissingLabelsError(Exception):
    """Some rows of the table have no label (written by an older embedlab); they need labels first."""


@dataclass(frozen=True)
class Found:
    """What one graph search found: scores and positions, best first, and the rows of those positions."""

    scores: np.ndarray
    positions: np.ndarray
    rows: pa.Table  # the accelerator's row copy at the time of the search (immutable)
    doc_ids: np.ndarray  # the parent document of each position found


@dataclass(frozen=True)
class SyncReport:
    """What :meth:`Accelerator.sync` did: rows inserted and marked dead, whether it rebuilt and saved."""

    added: int
    removed: int
    rebuilt: bool
    saved: bool
    seconds: float
    version: int
    rows: int


class Accelerator:
    """An :class:`~embedlab.index.hnsw.AnnIndex` kept in step with an index's rows, hit columns in memory.

    Args:
        rows: the index's rows (its LanceDB table and labels); the graph is saved in ``<index>/ann``.
        columns: the columns a hit shows (``doc_id`` first), copied into memory.
        mode: on (``True``), off (``False``), or on from :data:`ANN_AUTO_ROWS` rows (``"auto"``).
        ef_search: candidates kept while searching (raised to the number of results asked for).
        m, ef_construction: the graph's degree and candidates kept while inserting.
    """

    def __init__(
        self, rows: Rows, columns: Sequence[str], *, mode: Ann = "auto", ef_search: int = EF_SEARCH, m: int = M,
        ef_construction: int = EF_CONSTRUCTION,
    ) -> None:  # fmt: skip
        self.rows = rows
        self.folder = rows.folder / "ann"
        self.dimension = int(rows.settings["model"]["dimension"])
        self.precision = str(rows.settings.get("precision", "float32"))
        self.dims: int | None = rows.settings.get("dims")
        self.columns = list(columns)
        self.mode = mode
        self.ef_search = ef_search
        self.m = m
        self.ef_construction = ef_construction
        self.graph: AnnIndex | None = None
        self.version: int | None = None
        self._rows: pa.Table | None = None  # self.columns for every graph position (null where never read)
        self._doc_ids = np.empty(0, object)  # the doc_id column as an array, for collapsing without Arrow
        self._allowed: OrderedDict[str, np.ndarray] = OrderedDict()
        self._unsaved = 0
        self._loaded = False
        self._on = False  # decided (for "auto") when a search first needs it
        self._checked: tuple[int | None, int] = (None, 0)  # the versions folder's mtime at the last check, and when
        self._lock = threading.RLock()

    # -- when ------------------------------------------------------------------------------------------

    def active(self, table: Any) -> bool:
        """Whether vector search goes through the accelerator (``auto``: once the table is big enough)."""
        if self.mode is False:
            return False
        if not self._on:  # a compressed index searches its compact vectors at any size
            self._on = self.mode is True or self.compressed or table.count_rows() >= ANN_AUTO_ROWS
        return self._on

    @property
    def compressed(self) -> bool:
        """Whether the graph holds compressed or truncated vectors (re-scored with the full ones)."""
        return self.precision != "float32" or self.dims is not None

    # -- keeping up with the table ---------------------------------------------------------------------

    def sync(self, *, save: bool = False) -> SyncReport:
        """Bring the graph up to the table's latest version (one pinned version read), building it if needed.

        Raises:
            IndexDataError: rows without labels (an older embedlab's) that cannot be given labels.
        """
        self._on = True
        try:
            report = self._sync(self.rows.snapshot(), save)
        except MissingLabelsError as exc:
            if not self.rows.add_labels():
                self.mode = False
                raise IndexDataError(f"{exc}, and they cannot be given labels; open the index with ann=False.") from exc
            report = self._sync(self.rows.snapshot(), save)
        self.rows.labels.in_use(self.max_label)  # no label the table holds is handed out again
        return report

    def catch_up(self, table: Any) -> None:
        """Sync if the table may have a newer version than the one the graph reflects.

        Asking LanceDB for the version costs a hop to its event-loop thread (0.1 ms idle, over 1 ms on a
        busy machine), more than a graph search, so it is skipped while the folder of Lance's version files
        keeps the modification time it had at the last check, unless that time was within
        :data:`_RACY_NS` of the check (a commit in the same clock tick could leave it unchanged; as git
        does for its index). Any commit, by any process, adds a file there and so changes it.
        """
        now = time.time_ns()
        try:
            stamp: int | None = os.stat(self.rows.versions).st_mtime_ns
        except OSError:
            stamp = None  # another layout: always ask LanceDB
        seen, when = self._checked
        if stamp is not None and stamp == seen and stamp < when - _RACY_NS and self.version is not None:
            return
        if self.version != table.version:
            self.sync()
        self._checked = (stamp, now)

    def _sync(self, snapshot: Any, save: bool) -> SyncReport:
        """Bring the graph up to ``snapshot`` (the table checked out at one version).

        Raises:
            MissingLabelsError: rows without a label; give them labels and sync again.
        """
        with self._lock:
            started = time.perf_counter()
            version = int(snapshot.version)
            added = removed = 0
            rebuilt = False
            if self.graph is None and not self._loaded:
                self._loaded = True
                self.graph = hnsw.load(self.folder, self.dimension, self.precision, self.dims)
            if self.graph is None:
                added = self._build(snapshot)
                rebuilt = True
            elif version != self.version:
                added, removed, agrees = self._follow(snapshot)
                if not agrees:
                    self.graph = self._rows = None
                    added, removed, rebuilt = self._build(snapshot), 0, True
            graph = self.graph
            assert graph is not None and self._rows is not None
            if graph.size - graph.live_count > COMPACT_SHARE * graph.size or graph.uncalibrated:
                graph, kept = graph.compacted(self._calibration())  # the ranges of index.json, if recorded
                self.graph, self._rows = graph, self._rows.take(pa.array(kept))
                self._keep_calibration()
                rebuilt = True
            if len(self._doc_ids) != self._rows.num_rows or rebuilt:
                self._rows = _one_chunk(self._rows)
                self._doc_ids = self._rows.column("doc_id").to_numpy()
            self.version = version
            self._allowed.clear()
            self._unsaved += added
            saved = rebuilt or (save and self._unsaved > 0) or self._unsaved > SAVE_SHARE * max(graph.size, 1)
            if saved:
                hnsw.save(self.folder, graph, version)
                self._unsaved = 0
            return SyncReport(added, removed, rebuilt, saved, time.perf_counter() - started, version, graph.live_count)

    def _build(self, snapshot: Any) -> int:
        """A new graph from every row of the table, read in batches."""
        graph = AnnIndex(self.dimension, m=self.m, ef_construction=self.ef_construction, precision=self.precision,
                         dims=self.dims, calibration=self._calibration())  # fmt: skip
        pieces = []
        scan = snapshot.search().select(["label", "vector", *self.columns]).limit(None)
        for batch in scan.to_batches(BATCH):
            labels = batch.column("label")
            if labels.null_count:
                raise MissingLabelsError(f"{labels.null_count} rows have no label")
            graph.add(labels.to_numpy(), _vectors(batch.column("vector"), self.dimension))
            pieces.append(pa.Table.from_batches([batch]).select(self.columns))
        self.graph = graph
        self._rows = _concat(pieces, snapshot, self.columns)
        self._keep_calibration()
        return graph.size

    def _keep_calibration(self) -> None:
        """Record the graph's int8 ranges in ``index.json`` if it was just calibrated (the first ranges stay)."""
        if self.graph is not None and self.graph.calibration is not None and self._calibration() is None:
            update_settings(self.rows.folder, self.rows.settings, {"calibration": self.graph.calibration})

    def _calibration(self) -> list[float] | None:
        """The int8 ranges recorded in ``index.json`` (per dimension: minimums, then widths), if any."""
        calibration = self.rows.settings.get("calibration")
        return list(calibration) if calibration and self.precision == "int8" else None

    def _follow(self, snapshot: Any) -> tuple[int, int, bool]:
        """Insert the table's new rows, mark dead the rows it lost; ``False`` if the graph disagrees."""
        graph = self.graph
        assert graph is not None
        first = self._rows is None  # just loaded: read the hit columns of every row too
        scan = snapshot.search().select(["label", *(self.columns if first else [])]).with_row_id(True)
        table = scan.limit(None).to_arrow()
        if table.column("label").null_count:
            raise MissingLabelsError(f"{table.column('label').null_count} rows have no label")
        labels = table.column("label").to_numpy()
        positions = graph.positions_of(labels)
        present = positions >= 0
        in_table = np.zeros(graph.size, bool)
        in_table[positions[present]] = True
        gone = np.flatnonzero(graph.live & ~in_table)
        graph.set_live(gone, False)
        graph.set_live(np.flatnonzero(~graph.live & in_table), True)
        if first:
            where = np.full(graph.size, -1, np.int64)
            where[positions[present]] = np.flatnonzero(present)
            self._rows = table.select(self.columns).take(pa.array(where, mask=where < 0))
            if not self._agrees(snapshot, table.column("_rowid").to_numpy(), positions):
                return 0, 0, False
        new = table.column("_rowid").to_numpy()[~present]
        for start in range(0, len(new), BATCH):
            rows = snapshot.take_row_ids([int(r) for r in new[start : start + BATCH]])
            batch = rows.select(["label", "vector", *self.columns]).to_arrow()
            graph.add(batch.column("label").to_numpy(), _vectors(batch.column("vector"), self.dimension))
            self._rows = _concat([self._rows, batch.select(self.columns)], snapshot, self.columns)
        return len(new), len(gone), True

    def _agrees(self, snapshot: Any, row_ids: np.ndarray, positions: np.ndarray) -> bool:
        """Whether a sample of the loaded graph's vectors equals the table's (same labels, same vectors)."""
        graph = self.graph
        assert graph is not None
        present = np.flatnonzero(positions >= 0)
        if not len(present):
            return True
        sample = np.random.default_rng().choice(present, min(_SAMPLE, len(present)), replace=False)
        rows = snapshot.take_row_ids([int(r) for r in row_ids[sample]]).select(["label", "vector"]).to_arrow()
        stored = graph.vectors(graph.positions_of(rows.column("label").to_numpy()))
        if np.allclose(stored, unit(_vectors(rows.column("vector"), self.dimension)), atol=1e-5):
            return True
        warnings.warn(
            f"The saved ANN graph in {self.folder} holds other vectors than the index for the same rows "
            "(labels reused?); it is rebuilt from the index.",
            AnnRebuildWarning,
            stacklevel=5,
        )
        return False

    # -- search ------------------------------------------------------------------------------------------

    def candidates(
        self, table: Any, vector: np.ndarray, depth: int, filter: str | None, need: int, only_needed: bool,
        rescore: int = DEFAULT_RESCORE,
    ) -> Candidates:  # fmt: skip
        """The best chunk of each document among the ``depth`` nearest rows, widened to ``need`` documents.

        Caught up with the table first. A filter is evaluated by LanceDB (the labels of the matching rows,
        remembered until the table changes) and the graph searched among those rows only, so filtered
        results are those of a pre-filter, as on the exact path. ``only_needed``: the caller keeps only the
        best ``need`` documents, so no more rows are retrieved than the search keeps anyway (``ef_search``),
        and collapsing stops once it has them. The rows stay in memory (:class:`LazyRow`) until a hit needs one.
        A compressed graph re-scores ``depth x rescore`` rows (``need x rescore`` with ``only_needed``).
        """
        self.catch_up(table)
        if only_needed:
            depth = max(need, 1) if self.compressed else max(need, min(depth, self.ef_search))
        allowed = self.allowed(table, filter) if filter else None
        while True:
            found = self.search(vector, depth, allowed, rescore)
            best: Candidates = {}
            for doc, score, position in zip(found.doc_ids.tolist(), found.scores.tolist(), found.positions.tolist(),
                                            strict=True):  # fmt: skip
                if doc not in best:  # scores come best first: the first chunk seen is the document's best
                    best[doc] = (score, LazyRow(found.rows, position))
                    if only_needed and len(best) == need:
                        return best
            if len(best) >= need or len(found.positions) < depth or depth >= self.status()["rows"]:
                return best
            depth *= 4

    def allowed(self, table: Any, filter: str) -> np.ndarray:
        """The live positions whose rows match ``filter`` (an SQL condition), remembered until the next sync."""
        with self._lock:
            cached = self._allowed.get(filter)
            if cached is not None:
                self._allowed.move_to_end(filter)
                return cached
            graph = self.graph
            assert graph is not None
        labels = self.rows.query(lambda where: _where(table.search().select(["label"]).limit(None), where), filter)
        positions = graph.positions_of(labels.column("label").drop_null().to_numpy())
        positions = np.unique(positions[positions >= 0])
        with self._lock:
            if graph is self.graph:  # the positions are those of the current graph
                self._allowed[filter] = positions
                while len(self._allowed) > _FILTERS:
                    self._allowed.popitem(last=False)
        return positions

    def search(
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None, rescore: int = DEFAULT_RESCORE
    ) -> Found:
        """The ``k`` best live rows for ``vector``, with the rows' hit columns."""
        with self._lock:
            graph, rows, doc_ids = self.graph, self._rows, self._doc_ids
            assert graph is not None and rows is not None
            k = min(k, max(graph.size, 1))  # a graph search allocates k results, however few rows there are
            rescore = min(rescore, max(-(-graph.size // k), 1))  # k x rescore covers every row, no more
            scores, positions = graph.search(vector, k, max(self.ef_search, k), allowed, rescore)
        return Found(scores, positions, rows, doc_ids[positions])

    @property
    def max_label(self) -> int:
        """The highest label the graph has seen (-1 when empty)."""
        graph = self.graph
        return -1 if graph is None or not graph.size else int(graph.labels.max())

    def status(self) -> dict[str, Any]:
        """Rows in the graph, dead positions, and the table version it reflects."""
        graph = self.graph
        return {
            "active": graph is not None,
            "precision": self.precision,
            "dims": self.dims,
            "memory_bytes": 0 if graph is None else graph.memory(),
            "rows": 0 if graph is None else graph.live_count,
            "dead": 0 if graph is None else graph.size - graph.live_count,
            "table_version": self.version,
        }


def _where(query: Any, condition: str | None) -> Any:
    return query.where(condition) if condition else query


def _vectors(column: Any, dimension: int) -> np.ndarray:
    """A FixedSizeList column of float32 as an ``(n, dimension)`` array."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return np.asarray(column.flatten().to_numpy(zero_copy_only=False), np.float32).reshape(-1, dimension)


def _concat(pieces: Sequence[pa.Table | None], snapshot: Any, columns: list[str]) -> pa.Table:
    tables = [_large(piece) for piece in pieces if piece is not None]
    if not tables:
        return _large(snapshot.schema.empty_table().select(columns))
    return pa.concat_tables(tables)


def _one_chunk(table: pa.Table) -> pa.Table:
    """``table`` with one chunk per column.

    Arrow's ``take`` concatenates the chunks of a chunked column on every call (0.5 s per search at 1M
    rows), so the row copy is kept whole; its strings have 64-bit offsets (:func:`_large`), so that one
    chunk can hold more than 2 GB of text.
    """
    return _large(table).combine_chunks()


def _large(table: pa.Table) -> pa.Table:
    """``table`` with ``large_string`` for its ``string`` columns (the same strings, 64-bit offsets)."""
    fields = [field.with_type(pa.large_string()) if field.type == pa.string() else field for field in table.schema]
    return table.cast(pa.schema(fields))
