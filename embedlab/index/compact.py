"""Compressed search vectors: the precision and dimensions of an index's in-memory search structure.

An index chooses, when it is built, the form its search structure (:mod:`embedlab.index.hnsw`) holds:

- ``float32``: the unit vectors as they are (4 bytes a dimension);
- ``float16``: half floats (faiss ``QT_fp16``, 2 bytes);
- ``int8``: one byte a dimension, each dimension's range calibrated on the index's vectors (faiss'
  ``QT_8bit`` min/max training, as sentence-transformers' ``quantize_embeddings`` with calibration
  embeddings); the ranges are kept in ``index.json`` (``calibration``) so every graph built later
  quantises alike. A structure first built on fewer than :data:`CALIBRATION_MIN_ROWS` rows uses the fixed
  range [-1, 1] of unit vectors (as ``Encoder.encode(precision="int8")``) and is calibrated, once, when the
  index has grown to that many;
- ``binary``: one bit a dimension, the sign (faiss ``IndexBinaryHNSW``, Hamming distance): 32x smaller.

``dims`` keeps the first ``dims`` dimensions (Matryoshka truncation), renormalised. LanceDB keeps the full
float32 vectors; a compressed structure also keeps a memory-mapped float32 copy on disk
(:class:`FullVectors`, derived from LanceDB like the graph), from which the best ``k x rescore``
candidates are re-scored, so their order is that of exact float32 cosine.

Example:
    >>> import numpy as np
    >>> codes(np.array([[0.5, -0.1, 0.0, 0.2, -0.3, 0.1, 0.1, -0.2]], np.float32), "binary", 8)
    array([[150]], dtype=uint8)
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal, cast, get_args

import faiss
import numpy as np

from embedlab.errors import InputError

Precision = Literal["float32", "float16", "int8", "binary"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
DEFAULT_RESCORE = 4  # candidates re-scored with float32 vectors: k x this
CALIBRATION_ROWS = 100_000  # rows an int8 structure's ranges are calibrated on (a sample beyond)
CALIBRATION_MIN_ROWS = 1_000  # fewer: the fixed range [-1, 1] (a few rows' min/max would clip all others)
_BLOCK = 65_536  # rows copied at a time when saving
_BYTES = {"float32": 4.0, "float16": 2.0, "int8": 1.0, "binary": 1 / 8}


class TruncationWarning(UserWarning):
    """Truncating the vectors of a model that was not trained for it (Matryoshka): measure what it costs."""


def check(precision: str, dims: int | None, model: dict[str, Any]) -> tuple[Precision, int | None]:
    """``(precision, dims)`` validated for ``model`` (an index's model info); ``dims`` equal to the model's is ``None``.

    Truncating a model whose lineage does not list ``dims`` among its Matryoshka dimensions is allowed
    with a :class:`TruncationWarning`: ``embedlab compress plan`` measures what it costs on the user's data.

    Raises:
        InputError: an unknown precision, ``dims`` under 1 or above the model's dimension, or binary
            vectors whose ``dims`` is not a multiple of 8.
    """
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}.")
    dimension = int(model["dimension"])
    if dims is None or dims == dimension:
        dims = None
    elif not 1 <= dims < dimension:
        raise InputError(f"dims must be between 1 and the model's dimension {dimension}; got {dims}.")
    if precision == "binary" and (dims or dimension) % 8:
        raise InputError(f"binary vectors need a multiple of 8 dimensions; got {dims or dimension}.")
    if dims is not None and dims not in matryoshka_dims(model):
        warnings.warn(
            f"{model.get('name')} was not trained with Matryoshka dimensions including {dims}: truncated "
            "vectors may lose much quality. Measure it first: embedlab compress plan INDEX --benchmark DIR.",
            TruncationWarning,
            stacklevel=3,
        )
    return cast(Precision, precision), dims


def matryoshka_dims(model: dict[str, Any]) -> tuple[int, ...]:
    """The Matryoshka dimensions an embedlab fine-tuning trained ``model`` for (from its lineage), else ``()``."""
    from embedlab.registry import read_lineage

    if not model.get("path"):
        return ()
    try:
        lineage = read_lineage(model["path"])
    except InputError:
        return ()
    return tuple(int(d) for d in (lineage.params.get("matryoshka_dims") or ())) if lineage else ()


def vector_bytes(precision: str, dims: int) -> float:
    """Bytes of one vector of ``dims`` dimensions at ``precision``."""
    return _BYTES[precision] * dims


def truncate(vectors: np.ndarray, dims: int) -> np.ndarray:
    """The first ``dims`` dimensions of unit ``vectors``, renormalised (zero rows stay zero)."""
    part = np.ascontiguousarray(vectors[:, :dims], np.float32)
    norms = np.linalg.norm(part, axis=1, keepdims=True)
    return part / np.where(norms == 0, 1, norms)


def codes(vectors: np.ndarray, precision: str, dims: int) -> np.ndarray:
    """What the faiss structure takes: truncated unit vectors, or their sign bits packed for ``binary``."""
    part = truncate(vectors, dims)
    return np.packbits(part > 0, axis=1) if precision == "binary" else part


def cosine(scores: np.ndarray, precision: str, dims: int) -> np.ndarray:
    """A structure's scores as cosines: Hamming distances become the cosine of the sign vectors."""
    return 1 - 2 * scores.astype(np.float32) / dims if precision == "binary" else scores


def new_structure(precision: str, dims: int, m: int, ef_construction: int) -> tuple[Any, Any]:
    """A labelled, empty faiss HNSW structure at ``precision``: ``(id map, graph)``."""
    graph: Any
    if precision == "binary":
        graph = faiss.IndexBinaryHNSW(dims, m)
        graph.hnsw.efConstruction = ef_construction
        return faiss.IndexBinaryIDMap(graph), graph
    if precision == "float32":
        graph = faiss.IndexHNSWFlat(dims, m, faiss.METRIC_INNER_PRODUCT)
    else:
        kind: Any = faiss.ScalarQuantizer.QT_fp16 if precision == "float16" else faiss.ScalarQuantizer.QT_8bit
        graph = faiss.IndexHNSWSQ(dims, kind, m, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = ef_construction
    return faiss.IndexIDMap(graph), graph


def structure_bytes(graph: Any, precision: str) -> int:
    """RAM of a faiss HNSW structure: its codes, neighbour lists, offsets and levels."""
    hnsw = graph.hnsw
    code = graph.code_size if precision == "binary" else graph.storage.sa_code_size()
    links = hnsw.neighbors.size() * 4 + hnsw.offsets.size() * 8 + hnsw.levels.size() * 4
    return int(graph.ntotal * code + links)


def calibrate(graph: Any, ranges: list[float] | None, sample: np.ndarray) -> list[float] | None:
    """Set an int8 graph's per-dimension ranges and return them (``None``: the fixed range of unit vectors).

    The ranges given, else the min/max over ``sample`` when it has :data:`CALIBRATION_MIN_ROWS` rows, else
    the fixed range [-1, 1]: calibrated on a handful of rows, every other vector would be clipped to them
    (on one row, every width is 0 and all vectors get the same code).
    """
    quantizer: Any = faiss.downcast_index(graph.storage).sq  # type: ignore[attr-defined]
    if ranges is None and len(sample) >= CALIBRATION_MIN_ROWS:
        graph.train(sample)
        return calibration(graph)
    values = [-1.0] * graph.d + [2.0] * graph.d if ranges is None else ranges  # minimums, then widths
    faiss.copy_array_to_vector(np.asarray(values, np.float32), quantizer.trained)
    graph.is_trained = graph.storage.is_trained = True
    return None if ranges is None else calibration(graph)


def calibration(graph: Any) -> list[float] | None:
    """A trained int8 graph's ranges (per dimension: minimums, then widths); ``None`` for the fixed range."""
    quantizer: Any = faiss.downcast_index(graph.storage).sq  # type: ignore[attr-defined]
    values = [float(value) for value in faiss.vector_to_array(quantizer.trained)]
    return None if values == [-1.0] * graph.d + [2.0] * graph.d else values


class FullVectors:
    """The unit float32 vectors of a compressed structure's positions, memory-mapped once saved.

    Positions added since the last save are held in memory until the next :meth:`write`.
    """

    def __init__(self, dimension: int, saved: np.ndarray | None = None) -> None:
        self.dimension = dimension
        self._saved = saved if saved is not None else np.zeros((0, dimension), np.float32)
        self._new: list[np.ndarray] = []
        self._count = len(self._saved)

    def __len__(self) -> int:
        """Positions held."""
        return self._count

    def add(self, vectors: np.ndarray) -> None:
        """Append unit vectors at the next positions."""
        self._new.append(np.ascontiguousarray(vectors, np.float32))
        self._count += len(vectors)

    def take(self, positions: np.ndarray) -> np.ndarray:
        """The vectors at ``positions`` (mapped ones read from the file)."""
        positions = np.asarray(positions, np.int64)
        tail = self._tail()
        base = len(self._saved)
        mapped = positions < base
        found = np.empty((len(positions), self.dimension), np.float32)
        found[mapped] = self._saved[positions[mapped]]
        found[~mapped] = tail[positions[~mapped] - base]
        return found

    def write(self, path: Path) -> None:
        """Save every position to ``path`` (``.npy``) and map it from there."""
        tail = self._tail()
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(self._count, self.dimension))
        base = len(self._saved)
        for start in range(0, base, _BLOCK):
            out[start : min(start + _BLOCK, base)] = self._saved[start : start + _BLOCK]
        out[base:] = tail
        out.flush()
        del out
        self._saved, self._new = np.load(path, mmap_mode="r"), []

    def _tail(self) -> np.ndarray:
        """The positions not yet saved, as one array."""
        if len(self._new) != 1:
            self._new = [np.concatenate(self._new) if self._new else np.zeros((0, self.dimension), np.float32)]
        return self._new[0]

    @classmethod
    def read(cls, path: Path, dimension: int, count: int) -> FullVectors:
        """Map a file saved by :meth:`write`.

        Raises:
            ValueError: it is not ``count`` float32 vectors of ``dimension``.
        """
        saved = np.load(path, mmap_mode="r")
        if saved.dtype != np.float32 or saved.shape != (count, dimension):
            raise ValueError(f"its full vectors have shape {saved.shape} ({saved.dtype}), not ({count}, {dimension})")
        return cls(dimension, saved)
