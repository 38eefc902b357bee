"""An in-memory ANN accelerator for an index's vector search: an HNSW graph kept in step with LanceDB.

LanceDB stays the source of truth; the accelerator is a derived cache that can always be rebuilt from it.
:class:`AnnIndex` is the graph itself (faiss ``IndexHNSWFlat``, inner product over unit vectors, so its
scores are the cosine similarities LanceDB reports). :class:`Accelerator` ties a graph to one LanceDB
table and keeps an in-memory copy of the columns a hit shows (``doc_id``, ``chunk``, ``text``, metadata),
so a search never reads LanceDB. Memory: the vectors (4 bytes x dimension per row), the graph (about
``2 * M * 4`` bytes per row) and that copy of the rows' text: about 2 GB for a million 384-d rows.

How it stays consistent with the table:

- Every row has an int64 ``label`` that is never reused: the index reserves labels in ``index.json``
  *before* it writes rows, so a crash leaves only gaps, and an upserted row gets a new label.
- HNSW cannot remove a vector, so the position of a deleted or replaced row is marked dead (a tombstone);
  searches skip dead positions with a bitmap selector, and the graph is rebuilt without them once they
  are more than :data:`COMPACT_SHARE` of it.
- Whenever the table's version differs from the one the accelerator reflects (a write by this or any
  other process), :meth:`Accelerator.sync` reads the table's ``label`` column (about 0.1 s per million
  rows), inserts the rows whose labels the graph lacks, and marks dead the graph's labels the table no
  longer has. Dead positions and the table version are therefore never saved: they are recomputed.
- The graph is saved under ``ann/`` (faiss file plus ``ann.json`` with its size and CRC-32, switched
  atomically), when it was built from scratch or compacted, when the rows added since the last save
  exceed :data:`SAVE_SHARE` of it, and on :meth:`Accelerator.sync` with ``save=True`` if any were
  added (``Index.sync_ann``). Writing the
  whole graph is what a save costs, while a restart only re-inserts the rows added since, so small
  changes are not saved at once; a crash or a kill loses nothing, since the next open catches up.
- A saved graph that cannot be read, fails its checksum, or whose vectors differ from LanceDB's for a
  sample of rows (an ``index.json`` restored from an old copy could have reused labels) is rebuilt,
  with an :class:`AnnRebuildWarning`; it never stops the index from opening or searching.

Example:
    >>> graph = AnnIndex(3)
    >>> graph.add(np.array([7, 8]), np.array([[1, 0, 0], [0, 1, 0]], np.float32))
    >>> scores, positions = graph.search(np.array([1, 0.1, 0], np.float32), k=1, ef=16)
    >>> int(graph.labels[positions[0]])
    7
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import warnings
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pyarrow as pa

M = 32  # graph degree: 32 neighbours per node (64 on the bottom layer)
EF_CONSTRUCTION = 64  # candidates kept while inserting
EF_SEARCH = 128  # candidates kept while searching: recall@10 >= 0.95 at 1M (bench/search.py)
COMPACT_SHARE = 0.2  # rebuild the graph once this share of its positions is dead
SAVE_SHARE = 0.1  # save once the rows added since the last save are this share of the graph
_SAMPLE = 16  # rows whose vectors are compared with LanceDB's after loading a saved graph
_BATCH = 65_536  # rows read from LanceDB and inserted into the graph at a time
_FILTERS = 16  # filters whose matching positions are remembered (until the table changes)
_ORPHAN_S = 3600  # a saved graph file no ann.json points to is removed once this old
_FORMAT = 1


class AnnRebuildWarning(UserWarning):
    """An index's saved ANN graph was unreadable or disagreed with the index's data, so it is rebuilt."""


class MissingLabelsError(Exception):
    """Some rows of the table have no label (written by an older embedlab); they need labels first."""


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


class AnnIndex:
    """An HNSW graph over unit vectors whose positions carry int64 labels; removal by tombstone.

    Args:
        dimension: the vectors' dimension.
        m: neighbours per node (the bottom layer has ``2 * m``).
        ef_construction: candidates kept while inserting (higher: better graph, slower build).
    """

    def __init__(self, dimension: int, *, m: int = M, ef_construction: int = EF_CONSTRUCTION) -> None:
        graph = faiss.IndexHNSWFlat(dimension, m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = ef_construction
        self._set(faiss.IndexIDMap(graph), graph)

    def _set(self, ids: Any, graph: Any) -> None:
        self._ids = ids  # faiss's IndexIDMap: owns the graph and saves the labels with it
        self._graph = graph
        self.dimension = int(graph.d)
        self.m = int(graph.hnsw.nb_neighbors(1))
        self.labels = faiss.vector_to_array(ids.id_map).astype(np.int64)
        self.live = np.ones(len(self.labels), bool)
        self._dead = 0
        self._live_bitmap: np.ndarray | None = None
        self._lookup: tuple[np.ndarray, np.ndarray] | None = None

    # -- size -----------------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Positions in the graph, dead ones included."""
        return len(self.labels)

    @property
    def live_count(self) -> int:
        """Positions whose rows are still in the table."""
        return self.size - self._dead

    # -- changes --------------------------------------------------------------------------------------

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Insert vectors (normalised here) under new labels, at the next positions."""
        labels = np.asarray(labels, np.int64)
        if len(labels) == 0:
            return
        self._ids.add_with_ids(_unit(vectors), labels)
        self.labels = np.concatenate([self.labels, labels])
        self.live = np.concatenate([self.live, np.ones(len(labels), bool)])
        self._live_bitmap = self._lookup = None

    def set_live(self, positions: np.ndarray, alive: bool) -> None:
        """Mark positions dead (deleted or replaced rows) or alive again (rows restored)."""
        if len(positions):
            self.live[positions] = alive
            self._dead = int(self.size - self.live.sum())
            self._live_bitmap = None

    def positions_of(self, labels: np.ndarray) -> np.ndarray:
        """The position of each label, or -1 where the graph does not have it."""
        if self._lookup is None:
            order = np.argsort(self.labels, kind="stable")
            self._lookup = (self.labels[order], order)
        ordered, order = self._lookup
        labels = np.asarray(labels, np.int64)
        if not len(ordered):
            return np.full(len(labels), -1, np.int64)
        slot = np.minimum(np.searchsorted(ordered, labels), len(ordered) - 1)
        return np.where(ordered[slot] == labels, order[slot], -1)

    def vectors(self, positions: np.ndarray) -> np.ndarray:
        """The stored (unit) vectors at ``positions``."""
        if not len(positions):
            return np.zeros((0, self.dimension), np.float32)
        return np.asarray(self._graph.reconstruct_batch(np.asarray(positions, np.int64)), np.float32)

    def compacted(self) -> tuple[AnnIndex, np.ndarray]:
        """A new graph of the live positions only, and the old position of each new one."""
        fresh = AnnIndex(self.dimension, m=self.m, ef_construction=int(self._graph.hnsw.efConstruction))
        kept = np.flatnonzero(self.live)
        for start in range(0, len(kept), _BATCH):
            chunk = kept[start : start + _BATCH]
            fresh.add(self.labels[chunk], self.vectors(chunk))
        return fresh, kept

    # -- search ---------------------------------------------------------------------------------------

    def search(
        self, vector: np.ndarray, k: int, ef: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best live positions for ``vector`` (cosine), best first: ``(scores, positions)``.

        ``allowed`` restricts the search to these positions (a metadata filter). When few are allowed,
        scoring them all reads fewer vectors than walking the graph (which visits about ``ef * m``
        vectors, ``ef`` widened by the share allowed so that enough allowed ones are met), so it does that,
        and is exact.
        """
        query = _unit(np.asarray(vector, np.float32).reshape(1, -1))
        bitmap = None
        if allowed is not None:
            allowed = allowed[self.live[allowed]]
            live = self.live_count
            if len(allowed) <= k or len(allowed) ** 2 <= ef * self.m * live:
                scores = self.vectors(allowed) @ query[0]
                best = np.argsort(-scores, kind="stable")[:k]
                return scores[best], allowed[best]
            mask = np.zeros(self.size, bool)
            mask[allowed] = True
            bitmap = np.packbits(mask, bitorder="little")
            ef = min(live, math.ceil(ef * live / len(allowed)))
        elif self._dead:
            if self._live_bitmap is None:
                self._live_bitmap = np.packbits(self.live, bitorder="little")
            bitmap = self._live_bitmap
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = max(ef, k)
        if bitmap is not None:
            params.sel = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))  # bitmap outlives the call
        scores, positions = self._graph.search(query, k, params=params)
        found = positions[0] >= 0
        return scores[0][found], positions[0][found].astype(np.int64)

    # -- files ----------------------------------------------------------------------------------------

    def write(self, path: Path) -> None:
        """Save the graph and its labels (not the dead marks: they are recomputed from the table)."""
        faiss.write_index(self._ids, str(path))

    @classmethod
    def read(cls, path: Path, dimension: int) -> AnnIndex:
        """Load a graph saved by :meth:`write`.

        Raises:
            ValueError: the file is not such a graph, or not of ``dimension``.
        """
        try:
            ids = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise ValueError(f"faiss cannot read it ({str(exc).splitlines()[-1]})") from None
        if not isinstance(ids, faiss.IndexIDMap):
            raise ValueError(f"it holds a {type(ids).__name__}, not a labelled HNSW graph")
        graph = faiss.downcast_index(ids.index)
        if not isinstance(graph, faiss.IndexHNSWFlat) or graph.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ValueError(f"it holds a {type(graph).__name__}, not an inner-product HNSW graph")
        if graph.d != dimension or ids.id_map.size() != graph.ntotal:
            raise ValueError(f"it has {graph.d} dimensions and {ids.id_map.size()} labels for {graph.ntotal} vectors")
        index = cls.__new__(cls)
        index._set(ids, graph)
        if len(np.unique(index.labels)) != index.size:
            raise ValueError("it repeats labels")
        return index


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
    """An :class:`AnnIndex` kept in step with one LanceDB table, with the hit columns in memory.

    Args:
        folder: where the graph is saved (``<index>/ann``).
        dimension: the table's vector dimension.
        columns: the columns a hit shows (``doc_id`` first), copied into memory.
        ef_search: candidates kept while searching (raised to the number of results asked for).
    """

    def __init__(
        self,
        folder: Path,
        dimension: int,
        columns: Sequence[str],
        *,
        ef_search: int = EF_SEARCH,
        m: int = M,
        ef_construction: int = EF_CONSTRUCTION,
    ) -> None:
        self.folder = folder
        self.dimension = dimension
        self.columns = list(columns)
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
        self._lock = threading.RLock()

    # -- keeping up with the table ---------------------------------------------------------------------

    def sync(self, snapshot: Any, *, save: bool = False) -> SyncReport:
        """Bring the graph up to ``snapshot`` (a LanceDB table checked out at one version).

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
                self.graph = self._load()
            if self.graph is None:
                added = self._build(snapshot)
                rebuilt = True
            elif version != self.version:
                added, removed, agrees = self._catch_up(snapshot)
                if not agrees:
                    self.graph = self._rows = None
                    added, removed, rebuilt = self._build(snapshot), 0, True
            graph = self.graph
            assert graph is not None and self._rows is not None
            if graph.size - graph.live_count > COMPACT_SHARE * graph.size:
                self.graph, kept = graph.compacted()
                self._rows = self._rows.take(pa.array(kept))
                rebuilt = True
            if len(self._doc_ids) != self._rows.num_rows or rebuilt:
                self._rows = _one_chunk(self._rows)
                self._doc_ids = self._rows.column("doc_id").to_numpy()
            self.version = version
            self._allowed.clear()
            self._unsaved += added
            if rebuilt or (save and self._unsaved) or self._unsaved > SAVE_SHARE * max(graph.size, 1):
                self._save(version)
                saved = True
            else:
                saved = False
            rows = self.graph.live_count if self.graph is not None else 0
            return SyncReport(added, removed, rebuilt, saved, time.perf_counter() - started, version, rows)

    def _build(self, snapshot: Any) -> int:
        """A new graph from every row of the table, read in batches."""
        graph = AnnIndex(self.dimension, m=self.m, ef_construction=self.ef_construction)
        pieces = []
        scan = snapshot.search().select(["label", "vector", *self.columns]).limit(None)
        for batch in scan.to_batches(_BATCH):
            labels = batch.column("label")
            if labels.null_count:
                raise MissingLabelsError(f"{labels.null_count} rows have no label")
            graph.add(labels.to_numpy(), _vectors(batch.column("vector"), self.dimension))
            pieces.append(pa.Table.from_batches([batch]).select(self.columns))
        self.graph = graph
        self._rows = _concat(pieces, snapshot, self.columns)
        return graph.size

    def _catch_up(self, snapshot: Any) -> tuple[int, int, bool]:
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
        for start in range(0, len(new), _BATCH):
            rows = snapshot.take_row_ids([int(r) for r in new[start : start + _BATCH]])
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
        if np.allclose(stored, _unit(_vectors(rows.column("vector"), self.dimension)), atol=1e-5):
            return True
        warnings.warn(
            f"The saved ANN graph in {self.folder} holds other vectors than the index for the same rows "
            "(labels reused?); it is rebuilt from the index.",
            AnnRebuildWarning,
            stacklevel=4,
        )
        return False

    # -- search ------------------------------------------------------------------------------------------

    def allowed(self, table: Any, filter: str) -> np.ndarray:
        """The live positions whose rows match ``filter`` (an SQL condition), remembered until the next sync."""
        with self._lock:
            cached = self._allowed.get(filter)
            if cached is not None:
                self._allowed.move_to_end(filter)
                return cached
            graph = self.graph
            assert graph is not None
        labels = table.search().where(filter).select(["label"]).limit(None).to_arrow().column("label")
        positions = graph.positions_of(labels.drop_null().to_numpy())
        positions = np.unique(positions[positions >= 0])
        with self._lock:
            if graph is self.graph:  # the positions are those of the current graph
                self._allowed[filter] = positions
                while len(self._allowed) > _FILTERS:
                    self._allowed.popitem(last=False)
        return positions

    def search(self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Found:
        """The ``k`` best live rows for ``vector``, with the rows' hit columns."""
        with self._lock:
            graph, rows, doc_ids = self.graph, self._rows, self._doc_ids
            assert graph is not None and rows is not None
            scores, positions = graph.search(vector, k, max(self.ef_search, k), allowed)
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
            "rows": 0 if graph is None else graph.live_count,
            "dead": 0 if graph is None else graph.size - graph.live_count,
            "table_version": self.version,
        }

    # -- files ---------------------------------------------------------------------------------------------

    def _load(self) -> AnnIndex | None:
        """The saved graph, or ``None`` (nothing saved, or unusable: then with a warning)."""
        meta_path = self.folder / "ann.json"
        if not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            path = self.folder / str(meta["file"])
            if path.stat().st_size != meta["size"] or _crc32(path) != meta["crc32"]:
                raise ValueError("its size or checksum differs from the one recorded when it was saved")
            return AnnIndex.read(path, self.dimension)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warnings.warn(
                f"The saved ANN graph in {self.folder} is unusable ({exc}); it is rebuilt from the index.",
                AnnRebuildWarning,
                stacklevel=4,
            )
            return None

    def _save(self, version: int) -> None:
        """Write the graph under a new name, then switch ``ann.json`` to it and remove the file it replaced.

        A crash leaves the previous ``ann.json`` and its file intact; files nobody points to (a crash
        mid-save, or two processes saving at once) are removed once an hour old.
        """
        graph = self.graph
        assert graph is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            previous = json.loads((self.folder / "ann.json").read_text(encoding="utf-8")).get("file")
        except (OSError, ValueError, AttributeError):
            previous = None
        name = f"hnsw-{os.getpid()}-{time.time_ns()}.faiss"
        graph.write(self.folder / name)
        meta = {
            "format": _FORMAT,
            "file": name,
            "size": (self.folder / name).stat().st_size,
            "crc32": _crc32(self.folder / name),
            "table_version": version,
            "rows": graph.size,
            "m": graph.m,
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        tmp = self.folder / f".ann.json.tmp-{os.getpid()}"
        tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
        os.replace(tmp, self.folder / "ann.json")
        for old in self.folder.glob("hnsw-*.faiss"):  # POSIX: a process still reading one keeps it readable
            if old.name != name and (old.name == previous or time.time() - old.stat().st_mtime > _ORPHAN_S):
                old.unlink(missing_ok=True)
        self._unsaved = 0


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


def _crc32(path: Path) -> int:
    crc = 0
    with path.open("rb") as file:
        while block := file.read(1 << 24):
            crc = zlib.crc32(block, crc)
    return crc
