"""The faiss HNSW graph behind the ANN accelerator, and its saved copy under ``<index>/ann``.

:class:`AnnIndex` is the graph itself (faiss ``IndexHNSWFlat``, inner product over unit vectors, so its
scores are the cosine similarities LanceDB reports), whose positions carry the rows' int64 labels. HNSW
cannot remove a vector, so a deleted or replaced row's position is marked dead (a tombstone) and skipped
with a bitmap selector. Memory: the vectors (4 bytes x dimension per row) and the graph (about
``2 * M * 4`` bytes per row). A compressed graph (float16, int8 or binary codes, or truncated dimensions:
:mod:`embedlab.index.compact`) holds the codes instead, keeps the full unit vectors memory-mapped on disk
next to its file, and re-scores its best ``k x rescore`` candidates with them.

The graph is saved as a faiss file plus ``ann.json`` with its size and CRC-32, switched atomically
(:func:`save`); :func:`load` returns ``None``, with an :class:`AnnRebuildWarning`, for a copy that cannot be
read or fails its checksum, so the caller rebuilds it.

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
import time
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from embedlab.atomic import write_json
from embedlab.index import compact
from embedlab.index.compact import DEFAULT_RESCORE, FullVectors

M = 32  # graph degree: 32 neighbours per node (64 on the bottom layer)
EF_CONSTRUCTION = 64  # candidates kept while inserting
EF_SEARCH = 128  # candidates kept while searching: recall@10 >= 0.95 at 1M (bench/search.py)
BATCH = 65_536  # vectors inserted into a graph at a time
_ORPHAN_S = 3600  # a saved graph file no ann.json points to is removed once this old
_FORMAT = 1
_RESCORE_QUERIES = 256  # queries re-scored at a time (their candidates' full vectors in memory at once)


class AnnRebuildWarning(UserWarning):
    """An index's saved ANN graph was unreadable or disagreed with the index's data, so it is rebuilt."""


def unit(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` as contiguous float32 rows of length 1 (zero rows stay zero)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


class AnnIndex:
    """An HNSW graph over unit vectors whose positions carry int64 labels; removal by tombstone.

    Args:
        dimension: the vectors' dimension.
        m: neighbours per node (the bottom layer has ``2 * m``).
        ef_construction: candidates kept while inserting (higher: better graph, slower build).
        precision: the form the graph holds the vectors in (:mod:`embedlab.index.compact`).
        dims: the dimensions it keeps (``None``: all).
        calibration: an ``int8`` graph's ranges (``None``: calibrated on the first vectors added, if they are
            enough, else the fixed range until :meth:`compacted`: :func:`~embedlab.index.compact.calibrate`).
    """

    def __init__(
        self, dimension: int, *, m: int = M, ef_construction: int = EF_CONSTRUCTION, precision: str = "float32",
        dims: int | None = None, calibration: list[float] | None = None,
    ) -> None:  # fmt: skip
        ids, graph = compact.new_structure(precision, dims or dimension, m, ef_construction)
        self.calibration = calibration
        self._set(ids, graph, dimension, precision)

    def _set(self, ids: Any, graph: Any, dimension: int, precision: str, full: FullVectors | None = None) -> None:
        self._ids = ids  # faiss's IndexIDMap: owns the graph and saves the labels with it
        self._graph = graph
        self.dimension = dimension
        self.precision = precision
        self.dims = int(graph.d)
        compressed = precision != "float32" or self.dims != dimension
        #: The full unit vectors that re-score a compressed graph's candidates (``None``: the graph holds them).
        self.full = (full or FullVectors(dimension)) if compressed else None
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

    @property
    def uncalibrated(self) -> bool:
        """An int8 graph on the fixed range that now has the rows to be calibrated on (by :meth:`compacted`)."""
        return self.precision == "int8" and self.calibration is None and self.live_count >= compact.CALIBRATION_MIN_ROWS

    # -- changes --------------------------------------------------------------------------------------

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Insert vectors (normalised here) under new labels, at the next positions."""
        labels = np.asarray(labels, np.int64)
        if len(labels) == 0:
            return
        vectors = unit(vectors)
        if self.full is None:
            self._ids.add_with_ids(vectors, labels)
        else:
            if self.precision == "int8" and not self._graph.is_trained:
                sample = compact.truncate(vectors[: compact.CALIBRATION_ROWS], self.dims)
                self.calibration = compact.calibrate(self._graph, self.calibration, sample)
            self._ids.add_with_ids(compact.codes(vectors, self.precision, self.dims), labels)
            self.full.add(vectors)
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
        """The stored (unit, full float32) vectors at ``positions``."""
        if not len(positions):
            return np.zeros((0, self.dimension), np.float32)
        if self.full is not None:
            return self.full.take(positions)
        return np.asarray(self._graph.reconstruct_batch(np.asarray(positions, np.int64)), np.float32)

    def compacted(self, calibration: list[float] | None = None) -> tuple[AnnIndex, np.ndarray]:
        """A new graph of the live positions only, and the old position of each new one.

        An int8 graph keeps ``calibration`` (default: its own ranges; on the fixed range, it is calibrated
        on the live rows if they are enough).
        """
        fresh = AnnIndex(self.dimension, m=self.m, ef_construction=int(self._graph.hnsw.efConstruction),
                         precision=self.precision, dims=self.dims,
                         calibration=calibration or self.calibration)  # fmt: skip
        kept = np.flatnonzero(self.live)
        for start in range(0, len(kept), BATCH):
            chunk = kept[start : start + BATCH]
            fresh.add(self.labels[chunk], self.vectors(chunk))
        return fresh, kept

    # -- search ---------------------------------------------------------------------------------------

    def memory(self) -> int:
        """Bytes of RAM the graph takes: its vectors or codes and its links (not the mapped full vectors)."""
        return compact.structure_bytes(self._graph, self.precision)

    def search(
        self, vector: np.ndarray, k: int, ef: int, allowed: np.ndarray | None = None, rescore: int = DEFAULT_RESCORE
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best live positions for ``vector`` (cosine), best first: ``(scores, positions)``.

        A compressed graph finds ``k x rescore`` candidates and re-scores them with the full float32
        vectors, keeping the best ``k`` in exact cosine order (``rescore=0``: its own scores, as cosines).

        ``allowed`` restricts the search to these positions (a metadata filter). When few are allowed,
        scoring them all reads fewer vectors than walking the graph (which visits about ``ef * m``
        vectors, ``ef`` widened by the share allowed so that enough allowed ones are met), so it does that,
        and is exact.
        """
        query = unit(np.asarray(vector, np.float32).reshape(1, -1))
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
        scores, positions = self.search_many(query, k, ef, rescore, bitmap)
        found = positions[0] >= 0
        return scores[0][found], positions[0][found]

    def search_many(
        self, queries: np.ndarray, k: int, ef: int, rescore: int = DEFAULT_RESCORE, bitmap: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best live positions for each row of ``queries`` in one faiss call, as :meth:`search`.

        ``(scores, positions)``, each ``(len(queries), k)``, best first; a row with fewer positions is padded
        with position -1. ``bitmap``: the positions searched (packed bits; default: the live ones).
        One query is searched on the calling thread alone: faiss' binary HNSW opens an OpenMP team even
        for one query, which on a busy machine waits for a second core (40 ms instead of 1 ms).
        """
        queries = unit(np.atleast_2d(queries))
        if bitmap is None and self._dead:
            if self._live_bitmap is None:
                self._live_bitmap = np.packbits(self.live, bitorder="little")
            bitmap = self._live_bitmap
        pool = k if self.full is None else k * max(rescore, 1)
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = max(ef, pool)
        if bitmap is not None:
            params.sel = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))  # bitmap outlives the call
        codes = queries if self.full is None else compact.codes(queries, self.precision, self.dims)
        with _threads(1 if len(queries) == 1 else None):
            scores, positions = self._graph.search(codes, pool, params=params)
        positions = positions.astype(np.int64)
        if self.full is None:
            return scores, positions
        if not rescore:
            return compact.cosine(scores, self.precision, self.dims)[:, :k], positions[:, :k]
        exact = np.full(positions.shape, -np.inf, np.float32)
        for start in range(0, len(queries), _RESCORE_QUERIES):
            block = positions[start : start + _RESCORE_QUERIES]
            found = block >= 0
            rows = np.nonzero(found)[0] + start  # the query of each candidate found
            part = exact[start : start + _RESCORE_QUERIES]
            part[found] = np.einsum("ij,ij->i", self.full.take(block[found]), queries[rows])
        best = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(exact, best, axis=1), np.take_along_axis(positions, best, axis=1)  # -1s last

    # -- files ----------------------------------------------------------------------------------------

    def write(self, path: Path) -> None:
        """Save the graph and its labels, and a compressed graph's full vectors next to it (:func:`full_path`).

        The dead marks are not saved: they are recomputed from the table.
        """
        if self.precision == "binary":
            faiss.write_index_binary(self._ids, str(path))
        else:
            faiss.write_index(self._ids, str(path))
        if self.full is not None:
            self.full.write(full_path(path))

    @classmethod
    def read(cls, path: Path, dimension: int, precision: str = "float32", dims: int | None = None) -> AnnIndex:
        """Load a graph saved by :meth:`write` (an int8 graph's ranges are those it was saved with).

        Raises:
            ValueError: the file is not such a graph, or not of ``dimension``, ``precision`` and ``dims``.
        """
        binary = precision == "binary"
        ids: Any
        try:
            ids = faiss.read_index_binary(str(path)) if binary else faiss.read_index(str(path))
        except RuntimeError as exc:
            raise ValueError(f"faiss cannot read it ({str(exc).splitlines()[-1]})") from None
        if not isinstance(ids, faiss.IndexBinaryIDMap if binary else faiss.IndexIDMap):
            raise ValueError(f"it holds a {type(ids).__name__}, not a labelled HNSW graph")
        inner: Any = ids.index
        graph: Any = faiss.downcast_IndexBinary(inner) if binary else faiss.downcast_index(inner)
        kind: Any = {"float32": faiss.IndexHNSWFlat, "binary": faiss.IndexBinaryHNSW}.get(precision, faiss.IndexHNSWSQ)
        if not isinstance(graph, kind) or (not binary and graph.metric_type != faiss.METRIC_INNER_PRODUCT):
            raise ValueError(f"it holds a {type(graph).__name__}, not a {precision} inner-product HNSW graph")
        if graph.d != (dims or dimension) or ids.id_map.size() != graph.ntotal:
            raise ValueError(f"it has {graph.d} dimensions and {ids.id_map.size()} labels for {graph.ntotal} vectors")
        index = cls.__new__(cls)
        index.calibration = compact.calibration(graph) if precision == "int8" else None
        compressed = precision != "float32" or graph.d != dimension
        full = FullVectors.read(full_path(path), dimension, int(graph.ntotal)) if compressed else None
        index._set(ids, graph, dimension, precision, full)
        if len(np.unique(index.labels)) != index.size:
            raise ValueError("it repeats labels")
        return index


@contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """Set the OpenMP threads of faiss' searches on the calling thread for this block (``None``: as they are)."""
    if count is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)  # OpenMP's setting is the calling thread's own: other threads keep theirs
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def full_path(path: Path) -> Path:
    """Where the full vectors of the compressed graph saved at ``path`` are."""
    return path.with_suffix(".full.npy")


def load(folder: Path, dimension: int, precision: str = "float32", dims: int | None = None) -> AnnIndex | None:
    """The graph saved in ``folder``, or ``None`` (nothing saved, another precision or dims, or unusable).

    An unusable graph comes with a warning; one of another precision or dims (a converted index) does not.
    """
    meta_path = folder / "ann.json"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if (meta.get("precision", "float32"), meta.get("dims")) != (precision, dims):
            return None  # the index was converted to another precision: build anew
        path = folder / str(meta["file"])
        files = [(path, meta["size"], meta["crc32"])]
        if meta.get("full"):
            files.append((folder / str(meta["full"]), meta["full_size"], meta["full_crc32"]))
        if any(file.stat().st_size != size or crc32(file) != crc for file, size, crc in files):
            raise ValueError("its size or checksum differs from the one recorded when it was saved")
        return AnnIndex.read(path, dimension, precision, dims)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(
            f"The saved ANN graph in {folder} is unusable ({exc}); it is rebuilt from the index.",
            AnnRebuildWarning,
            stacklevel=5,
        )
        return None


def save(folder: Path, graph: AnnIndex, version: int) -> None:
    """Write ``graph`` under a new name, then switch ``ann.json`` to it and remove the file it replaced.

    A crash leaves the previous ``ann.json`` and its file intact; files nobody points to (a crash
    mid-save, or two processes saving at once) are removed once an hour old.
    """
    folder.mkdir(parents=True, exist_ok=True)
    try:
        previous = json.loads((folder / "ann.json").read_text(encoding="utf-8")).get("file")
    except (OSError, ValueError, AttributeError):
        previous = None
    name = f"hnsw-{os.getpid()}-{time.time_ns()}.faiss"
    graph.write(folder / name)
    meta: dict[str, Any] = {
        "format": _FORMAT,
        "file": name,
        "size": (folder / name).stat().st_size,
        "crc32": crc32(folder / name),
        "precision": graph.precision,
        "dims": None if graph.dims == graph.dimension else graph.dims,
        "table_version": version,
        "rows": graph.size,
        "m": graph.m,
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if graph.full is not None:
        full = full_path(folder / name)
        meta |= {"full": full.name, "full_size": full.stat().st_size, "full_crc32": crc32(full)}
    write_json(folder / "ann.json", meta)
    ours = {name, full_path(folder / name).name}
    replaced = {str(previous), full_path(folder / str(previous)).name}
    for old in folder.glob("hnsw-*"):  # POSIX: a process still reading one keeps it readable
        if old.name not in ours and (old.name in replaced or time.time() - old.stat().st_mtime > _ORPHAN_S):
            old.unlink(missing_ok=True)


def crc32(path: Path) -> int:
    """The CRC-32 of a file, read in 16 MiB blocks."""
    crc = 0
    with path.open("rb") as file:
        while block := file.read(1 << 24):
            crc = zlib.crc32(block, crc)
    return crc
