"""The embedlab index: documents, metadata and vectors in LanceDB on disk, tied to one model.

An index is a folder: ``index.json`` (the model's info and fingerprint, vector settings, chunking,
metadata fields) and ``lance/`` (an embedded LanceDB database, no server). Every document is stored as
one or more chunk rows (long documents are chunked by tokens; each row keeps its parent ``doc_id`` and
its character offsets), and search returns parent documents. Adding a document with an existing id
replaces all its chunks in one LanceDB commit (``merge_insert``), so a killed process leaves either the
old or the new version, never both or none. A query, a model or precomputed vectors from another
vector space are refused with :class:`~embedlab.errors.IndexMismatchError` naming both models.

Search modes: ``vector`` (cosine over the vectors), ``bm25`` (LanceDB's full-text index, English
stemming and stop words) and ``hybrid`` (reciprocal rank fusion, or weighted normalised scores with
``alpha``), each hit reporting its per-component scores. :meth:`Index.search_fn` plugs any mode into the
evaluation suite.

Vector search over a large index goes through an in-memory HNSW accelerator (:mod:`embedlab.index.ann`),
kept in step with LanceDB through an int64 ``label`` on every row (never reused; reserved in
``index.json`` before rows are written). ``ann="auto"`` turns it on from :data:`ANN_AUTO_ROWS` rows;
``ann=True`` or ``False`` forces it. LanceDB stays the source of truth: the accelerator catches up with
any write (of this process or another) before it answers, and is rebuilt if its saved copy is unusable.

Example:
    >>> index = Index.create("my-index")  # bundled model
    >>> index.add([{"id": "1", "text": "The cat sleeps.", "lang": "en"}])  # doctest: +SKIP
    >>> index.search("Where is the kitten?", k=3, filter="lang = 'en'")  # doctest: +SKIP
    [Hit(doc_id='1', score=0.61, ...)]
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows: labels are reserved without a cross-process lock)
    fcntl = None  # type: ignore[assignment]

import numpy as np

from embedlab import __version__
from embedlab.encode import Encoder
from embedlab.errors import IndexMismatchError, InputError
from embedlab.evaluate.retrieval import Ranking, SearchFn
from embedlab.index.ann import EF_CONSTRUCTION, EF_SEARCH, Accelerator, Found, M, MissingLabelsError, SyncReport
from embedlab.index.fusion import rrf, weighted
from embedlab.index.rerank import RerankFusion, load_reranker, rerank_hits
from embedlab.models import EmbeddingModel, ModelInfo, load_model

Mode = Literal["vector", "bm25", "hybrid"]
Fusion = Literal["rrf", "weighted"]
Ann = bool | Literal["auto"]

_FORMAT = 1
_TABLE = "chunks"
_FTS_STALE = 0.1  # rebuild the full-text index once this share of rows is not in it
ANN_AUTO_ROWS = 10_000  # ann="auto": below this many rows LanceDB's exact scan takes ~10 ms or less
_RACY_NS = 1_000_000_000  # a version folder stamped this close to a check could change again, same stamp
METADATA_TYPES = ("string", "int", "float", "bool")
_RESERVED = {"id", "row_id", "doc_id", "chunk", "start", "end", "text", "title", "fts_text", "vector", "label"}


@dataclass
class Hit:
    """One document found: its id, score, best chunk, metadata, and the score of each component."""

    doc_id: str
    score: float
    text: str
    chunk: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    components: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchOptions:
    """How :meth:`Index.search` searches.

    Attributes:
        mode: ``vector``, ``bm25`` or ``hybrid``.
        filter: an SQL condition on metadata columns, applied before ranking (``"lang = 'en'"``).
        min_score: drop hits scoring below this (the mode's own score; with ``rerank``, the cross-encoder's).
        fusion: ``rrf`` (reciprocal rank) or ``weighted`` (normalised scores) for hybrid.
        alpha: the vector side's weight in ``weighted`` fusion.
        candidates: chunks each component retrieves before documents are collapsed and fused.
        rerank: a sentence-transformers ``CrossEncoder`` (or its path) that re-scores the first
            ``rerank_top`` documents (its score in ``components["rerank"]``).
        rerank_top: how many documents the cross-encoder sees; when ``k`` is larger, the hits after them
            keep their first-stage order and score.
        rerank_fusion: ``rrf`` fuses the cross-encoder's ranking with the first stage's (the hit's score
            is the fused one); ``replace`` ranks by the cross-encoder's score alone.
    """

    mode: Mode = "vector"
    filter: str | None = None
    min_score: float | None = None
    fusion: Fusion = "rrf"
    alpha: float = 0.5
    candidates: int = 100
    rerank: Any = None
    rerank_top: int = 50
    rerank_fusion: RerankFusion = "rrf"

    def __post_init__(self) -> None:
        if self.mode not in ("vector", "bm25", "hybrid"):
            raise InputError(f"mode must be vector, bm25 or hybrid; got {self.mode!r}.")
        if self.fusion not in ("rrf", "weighted"):
            raise InputError(f"fusion must be rrf or weighted; got {self.fusion!r}.")
        if self.rerank_fusion not in ("rrf", "replace"):
            raise InputError(f"rerank_fusion must be rrf or replace; got {self.rerank_fusion!r}.")
        if self.rerank_top < 1:
            raise InputError(f"rerank_top must be at least 1, got {self.rerank_top}.")
        if not 0 <= self.alpha <= 1:
            raise InputError(f"alpha must be between 0 and 1, got {self.alpha}.")


class Index:
    """Documents and vectors of one model in LanceDB; open with :meth:`create` or :meth:`open`.

    ``ann`` and ``ef_search`` are those of :meth:`create`; ``None`` takes the ones saved with the index.
    """

    def __init__(
        self, path: Path, encoder: Encoder, settings: dict[str, Any], *, ann: Ann | None = None,
        ef_search: int | None = None,
    ) -> None:  # fmt: skip
        import lancedb

        if isinstance(settings["metadata_fields"], list):  # every field declared as a string
            settings["metadata_fields"] = dict.fromkeys(settings["metadata_fields"], "string")
        self.path = path
        self.encoder = encoder
        self.settings = settings
        # read_consistency_interval=0: the one table handle sees other processes' commits at once
        self._db = lancedb.connect(str(path / "lance"), read_consistency_interval=timedelta(0))
        self._handle: Any = None
        stored = {"mode": "auto", "m": M, "ef_construction": EF_CONSTRUCTION, "ef_search": EF_SEARCH,
                  **settings.get("ann", {})}  # fmt: skip
        self.ann: Ann = stored["mode"] if ann is None else ann
        ef_search = int(stored["ef_search"] if ef_search is None else ef_search)
        _check_ann(self.ann, ef_search)
        if self.ann is True and settings.get("precision", "float32") != "float32":
            raise InputError(f"The ANN accelerator needs float32 vectors; this index stores {settings['precision']}.")
        self._accelerator = Accelerator(
            path / "ann", settings["model"]["dimension"], ["doc_id", "chunk", "text", *settings["metadata_fields"]],
            ef_search=ef_search, m=stored["m"], ef_construction=stored["ef_construction"],
        )  # fmt: skip
        self._ann_on = False  # decided (for "auto") when a search first needs it
        self._versions = path / "lance" / f"{_TABLE}.lance" / "_versions"  # a file per commit (Lance's layout)
        self._checked: tuple[int | None, int] = (None, 0)  # the folder's mtime at the last version check, and when

    @property
    def ef_search(self) -> int:
        """Candidates the accelerator keeps while searching (settable: higher is slower, closer to exact)."""
        return self._accelerator.ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        _check_ann(self.ann, value)
        self._accelerator.ef_search = int(value)

    # -- opening ------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        model: EmbeddingModel | Encoder | str | Path | None = None,
        *,
        metadata_fields: Sequence[str] | Mapping[str, str] = (),
        chunk_tokens: int | None = None,
        overlap: int = 32,
        chunk: bool = True,
        ann: Ann = "auto",
        ef_search: int = EF_SEARCH,
    ) -> Index:
        """Make a new, empty index at ``path`` for ``model`` (default: the bundled model).

        Long documents are cut into chunks of ``chunk_tokens`` (default: the model's limit) sharing
        ``overlap`` tokens; ``chunk=False`` stores one vector per document (the model truncates, with a
        warning), as most published benchmarks do.

        ``ann`` turns the in-memory HNSW accelerator of vector search on (``True``), off (``False``: exact
        LanceDB search), or on from :data:`ANN_AUTO_ROWS` rows (``"auto"``). ``ef_search`` is how many
        candidates it keeps (at least the number of chunks a search retrieves): higher is slower and
        closer to exact. Both are saved with the index; :meth:`open` can override them.

        ``metadata_fields`` are names (stored as strings) or ``{name: type}`` with a type among
        :data:`METADATA_TYPES`; they can be filtered on in :meth:`search` and may be missing (null).

        Raises:
            InputError: ``path`` already holds something, a metadata field name is reserved, or a type
                is unknown.
        """
        folder = Path(path)
        if folder.exists() and any(folder.iterdir()):
            raise InputError(f"{folder} is not empty; open an existing index with Index.open.")
        fields = (
            dict(metadata_fields) if isinstance(metadata_fields, Mapping) else dict.fromkeys(metadata_fields, "string")
        )
        reserved = sorted(set(fields) & _RESERVED)
        if reserved:
            raise InputError(f"Metadata fields {reserved} clash with the index's own columns.")
        unknown = {name: kind for name, kind in fields.items() if kind not in METADATA_TYPES}
        if unknown:
            raise InputError(f"Unknown metadata types {unknown}; use one of {', '.join(METADATA_TYPES)}.")
        encoder = _encoder(model)
        settings = {
            "format": _FORMAT,
            "embedlab_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": encoder.info.to_dict(),
            "precision": "float32",
            "normalized": encoder.normalize,
            "chunk": chunk,
            "chunk_tokens": chunk_tokens,
            "overlap": overlap,
            "metadata_fields": fields,
            "ann": {"mode": ann, "m": M, "ef_construction": EF_CONSTRUCTION, "ef_search": ef_search},
            "next_label": 0,
        }
        _check_ann(ann, ef_search)
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "index.json", settings)
        return cls(folder, encoder, settings)

    @classmethod
    def open(
        cls,
        path: str | Path,
        model: EmbeddingModel | Encoder | str | Path | None = None,
        *,
        ann: Ann | None = None,
        ef_search: int | None = None,
    ) -> Index:
        """Open an index; with no model, load the one it was built with (by its recorded source).

        ``ann`` and ``ef_search`` override the ones saved with the index (see :meth:`create`). An index
        made before rows had labels gets them now (one commit); if that fails, the accelerator is off.

        Raises:
            InputError: no index at ``path`` or an unreadable ``index.json``.
            IndexMismatchError: ``model`` is not the model the index was built with.
        """
        folder = Path(path)
        try:
            settings = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"No embedlab index at {folder} (no index.json).") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{folder}/index.json is unreadable ({exc}).") from exc
        stored = settings["model"]
        if model is None:
            model = None if stored["source"] == "bundled" else stored["path"] or stored["name"]
        encoder = _encoder(model)
        _same_space(stored, encoder.info.to_dict(), what="the model given")
        index = cls(folder, encoder, settings, ann=ann, ef_search=ef_search)
        table = index._table()
        if table is not None and "label" not in table.schema.names:
            index._add_labels()  # made by an embedlab before labels: the column first, then a label per row
        return index

    # -- writing ------------------------------------------------------------------------------------

    def add(self, documents: Iterable[Mapping[str, Any]], *, batch: int = 1024) -> int:
        """Add or replace documents (dicts with ``id``, ``text``, optional ``title`` and metadata fields).

        Each batch of documents is one LanceDB commit. Returns the number of chunk rows written.
        """
        written = 0
        pending: list[Mapping[str, Any]] = []
        for document in documents:
            pending.append(document)
            if len(pending) >= batch:
                written += self._add_batch(pending)
                pending = []
        if pending:
            written += self._add_batch(pending)
        return written

    def add_vectors(
        self, documents: Sequence[Mapping[str, Any]], vectors: np.ndarray, *, model: ModelInfo | Mapping[str, Any]
    ) -> int:
        """Add documents with precomputed vectors (one per document, e.g. from ``embedlab encode``).

        Raises:
            IndexMismatchError: the vectors come from another model, or have the wrong dimension.
        """
        _same_space(self.settings["model"], model.to_dict() if isinstance(model, ModelInfo) else dict(model),
                    what="the vectors")  # fmt: skip
        ids, texts = self._validate(documents)
        dimension = self.settings["model"]["dimension"]
        if vectors.ndim != 2 or vectors.shape[1] != dimension or len(vectors) != len(documents):
            raise IndexMismatchError(
                f"Expected {len(documents)} vectors of dimension {dimension}, got an array of shape {vectors.shape}."
            )
        rows = [
            self._row(document, 0, 0, len(text), text, vector)
            for document, text, vector in zip(documents, texts, vectors.astype(np.float32), strict=True)
        ]
        return self._commit(rows, ids)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete documents (all their chunks) by id; return how many rows were removed."""
        table = self._table()
        if table is None or not ids:
            return 0
        before = table.count_rows()
        table.delete(f"doc_id IN ({sql_list(ids)})")
        return before - table.count_rows()

    # -- reading ------------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of documents."""
        table = self._table()
        return 0 if table is None else int(table.count_rows("chunk = 0"))  # every document has a chunk 0

    def info(self) -> dict[str, Any]:
        """The stored settings with document and chunk counts."""
        table = self._table()
        ann = {"mode": self.ann, "ef_search": self.ef_search, **self._accelerator.status()}
        return {
            **self.settings,
            "documents": len(self),
            "chunks": 0 if table is None else table.count_rows(),
            "ann": {**self.settings.get("ann", {}), **ann},
        }

    def search(self, query: str, k: int = 10, **options: Any) -> list[Hit]:
        """The ``k`` best documents for ``query``; ``options`` are the fields of :class:`SearchOptions`.

        Example:
            >>> index.search("reset password", k=5, mode="hybrid", filter="lang = 'en'")  # doctest: +SKIP
        """
        return self.search_many([query], k, **options)[0]

    def search_many(self, queries: Sequence[str], k: int = 10, **options: Any) -> list[list[Hit]]:
        """:meth:`search` for several queries (their vectors are encoded in one batch)."""
        chosen = _options(options)
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}.")
        if self._table() is None:
            return [[] for _ in queries]
        vectors = self.encoder.encode(list(queries)) if chosen.mode != "bm25" else None
        return self._search(list(queries), vectors, k, chosen)

    def search_vectors(self, vectors: np.ndarray, k: int = 10, **options: Any) -> list[list[Hit]]:
        """Vector search with query vectors already encoded by the index's model, one row per query.

        ``options`` are those of :class:`SearchOptions` except ``mode`` (always ``vector``) and ``rerank``
        (a cross-encoder needs the query text). This is the path to time the search itself.

        Raises:
            IndexMismatchError: the vectors have another dimension than the index's.
        """
        chosen = _options({**options, "mode": "vector"})
        if chosen.rerank is not None:
            raise InputError("search_vectors cannot rerank (the cross-encoder needs the query text); use search.")
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}.")
        matrix = np.atleast_2d(np.asarray(vectors, np.float32))
        dimension = self.settings["model"]["dimension"]
        if matrix.ndim != 2 or matrix.shape[1] != dimension:
            raise IndexMismatchError(f"Expected query vectors of dimension {dimension}, got shape {matrix.shape}.")
        if self._table() is None:
            return [[] for _ in matrix]
        return self._search([""] * len(matrix), matrix, k, chosen)

    def _search(self, queries: list[str], vectors: np.ndarray | None, k: int, chosen: SearchOptions) -> list[list[Hit]]:
        mode, filter, min_score, rerank = chosen.mode, chosen.filter, chosen.min_score, chosen.rerank
        table = self._table()
        cross_encoder = load_reranker(rerank) if rerank is not None else None
        first_stage = max(k, chosen.rerank_top) if cross_encoder is not None else k
        depth = max(chosen.candidates, 4 * first_stage)
        results = []
        for position, query in enumerate(queries):
            components: dict[str, dict[str, tuple[float, Any]]] = {}
            if vectors is not None:
                components["vector"] = self._vector_hits(
                    table, vectors[position], depth, filter, first_stage, only_needed=mode == "vector"
                )
            if mode != "vector":
                components["bm25"] = self._bm25_hits(table, query, depth, filter, first_stage)
            hits = self._fuse(
                components, mode, chosen.fusion, chosen.alpha, first_stage, None if cross_encoder else min_score
            )
            if cross_encoder is not None:
                hits = rerank_hits(cross_encoder, query, hits, k, min_score, chosen.rerank_top, chosen.rerank_fusion)
            results.append(hits)
        return results

    def similar(self, doc_id: str, k: int = 10, *, filter: str | None = None) -> list[Hit]:
        """The documents most similar to document ``doc_id`` (the mean of its chunk vectors), itself left out."""
        table = self._table()
        if table is None:
            raise InputError(f"No document {doc_id!r}: the index is empty.")
        ids, matrix = self._document_vectors(f"doc_id = {sql_list([doc_id])}")
        if not ids:
            raise InputError(f"No document {doc_id!r} in the index.")
        condition = f"doc_id != {sql_list([doc_id])}" + (f" AND ({filter})" if filter else "")
        found = self._vector_hits(table, matrix[0], max(100, 4 * k), condition)
        return self._fuse({"vector": found}, "vector", "rrf", 0.5, k, None)

    def near_duplicates(self, threshold: float = 0.95, *, block: int = 2048) -> list[tuple[str, str, float]]:
        """Pairs of documents whose vectors (mean of chunks) have cosine >= ``threshold``, most similar first.

        Computed block by block with matrix products (no pair loop in Python): memory ``block x n``.
        """
        ids, matrix = self._document_vectors(None)
        pairs: list[tuple[str, str, float]] = []
        for start in range(0, len(ids), block):
            scores = matrix[start : start + block] @ matrix.T
            later = np.arange(matrix.shape[0])[None, :] > np.arange(start, start + len(scores))[:, None]
            rows, cols = np.nonzero(later & (scores >= threshold))  # each pair once, never a document with itself
            pairs.extend((ids[start + r], ids[c], float(scores[r, c])) for r, c in zip(rows, cols, strict=True))
        return sorted(pairs, key=lambda pair: -pair[2])

    def _document_vectors(self, condition: str | None) -> tuple[list[str], np.ndarray]:
        """Document ids and their unit vectors (mean of chunk vectors), in first-seen order."""
        table = self._table()
        if table is None:
            return [], np.zeros((0, self.settings["model"]["dimension"]), np.float32)
        query = table.search().select(["doc_id", "vector"]).limit(table.count_rows())
        if condition:
            query = query.where(condition)
        data = query.to_arrow()
        doc_ids = data.column("doc_id").to_pylist()
        if not doc_ids:
            return [], np.zeros((0, self.settings["model"]["dimension"]), np.float32)
        vectors = np.stack(data.column("vector").to_numpy(zero_copy_only=False)).astype(np.float32)
        order = list(dict.fromkeys(doc_ids))
        position = {doc: i for i, doc in enumerate(order)}
        sums = np.zeros((len(order), vectors.shape[1]), np.float32)
        np.add.at(sums, [position[doc] for doc in doc_ids], vectors)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return order, sums / np.where(norms == 0, 1, norms)

    def sync_ann(self) -> SyncReport:
        """Build the ANN accelerator, or bring it up to date with the table, and save it if it has new rows.

        Searches do this by themselves (without saving small changes); call it to pay the cost at a time
        of your choosing, e.g. after a bulk load, or before a process that added rows exits.

        Raises:
            InputError: the accelerator is off for this index (``ann=False``), or the index is empty.
        """
        table = self._table()
        if self.ann is False:
            raise InputError(f"The ANN accelerator is off for {self.path} (ann=False).")
        if table is None:
            raise InputError(f"{self.path} is empty: add documents before building the ANN accelerator.")
        self._ann_on = True
        return self._sync(table, save=True)

    def search_fn(self, mode: Mode = "vector", **options: Any) -> SearchFn:
        """A search function for :func:`embedlab.evaluate.evaluate` (same metrics for every mode)."""

        def search(queries: Sequence[str], k: int) -> list[Ranking]:
            hits = self.search_many(list(queries), k, mode=mode, **options)
            return [[(hit.doc_id, hit.score) for hit in found] for found in hits]

        return search

    # -- internals ----------------------------------------------------------------------------------

    def _table(self) -> Any:
        """The table (one handle, always at its latest version), or ``None`` before the first add."""
        if self._handle is None and _TABLE in self._db.list_tables().tables:
            self._handle = self._db.open_table(_TABLE)
        return self._handle

    def _validate(self, documents: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
        """Ids and texts of a batch; refuses missing or repeated ids and empty texts."""
        ids = [_document_id(document, position) for position, document in enumerate(documents)]
        repeated = sorted(i for i, count in Counter(ids).items() if count > 1)
        if repeated:
            raise InputError(f"Document ids repeat within one add: {repeated[:10]}.")
        texts = [document.get("text") for document in documents]
        bad = [ids[i] for i, text in enumerate(texts) if not isinstance(text, str) or not text.strip()]
        if bad:
            raise InputError(f"Documents {bad[:10]} have no text.")
        return ids, [str(text) for text in texts]

    def _add_batch(self, documents: Sequence[Mapping[str, Any]]) -> int:
        ids, texts = self._validate(documents)
        titles = [document.get("title") or None for document in documents]
        if not self.settings.get("chunk", True):
            whole = [f"{title}: {text}" if title else text for title, text in zip(titles, texts, strict=True)]
            vectors = self.encoder.encode(whole)
            rows = [
                self._row(document, 0, 0, len(text), text, vector)
                for document, text, vector in zip(documents, texts, vectors, strict=True)
            ]
            return self._commit(rows, ids)
        embedded = self.encoder.encode_chunks(
            texts, titles=titles, max_tokens=self.settings["chunk_tokens"],
            overlap=self.settings["overlap"],
        )  # fmt: skip
        rows = [
            self._row(documents[chunk.doc_index], chunk.chunk_index, chunk.start, chunk.end, chunk.text, vector)
            for chunk, vector in zip(embedded.chunks, embedded.chunk_vectors, strict=True)
        ]
        return self._commit(rows, ids)

    def _row(
        self, document: Mapping[str, Any], chunk: int, start: int, end: int, text: str, vector: np.ndarray
    ) -> dict[str, Any]:
        doc_id = str(document["id"])
        title = str(document.get("title") or "")
        row = {
            "row_id": f"{doc_id}#{chunk}",
            "doc_id": doc_id,
            "chunk": chunk,
            "start": start,
            "end": end,
            "title": title,
            "text": text,
            "fts_text": f"{title} {text}".strip(),
            "vector": np.asarray(vector, dtype=np.float32),
        }
        unknown = sorted(set(document) - {"id", "text", "title", *self.settings["metadata_fields"]})
        if unknown:
            raise InputError(
                f"Document {doc_id} has fields {unknown} that the index does not store; declare them as "
                f"metadata_fields when creating the index (it has {self.settings['metadata_fields']})."
            )
        for name, kind in self.settings["metadata_fields"].items():
            row[name] = _metadata_value(document.get(name), kind, name, doc_id)
        return row

    def _schema(self) -> Any:
        import pyarrow as pa

        kinds = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
        fields = [
            pa.field("row_id", pa.string()),
            pa.field("doc_id", pa.string()),
            pa.field("chunk", pa.int32()),
            pa.field("start", pa.int32()),
            pa.field("end", pa.int32()),
            pa.field("title", pa.string()),
            pa.field("text", pa.string()),
            pa.field("fts_text", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), self.settings["model"]["dimension"])),
            pa.field("label", pa.int64()),
        ]
        fields += [pa.field(name, kinds[kind]) for name, kind in self.settings["metadata_fields"].items()]
        return pa.schema(fields)

    def _commit(self, rows: list[dict[str, Any]], ids: Sequence[str]) -> int:
        import pyarrow as pa

        if not rows:
            return 0
        schema = self._schema()
        first = self._reserve_labels(len(rows))  # before the commit: a crash only leaves unused labels
        for offset, row in enumerate(rows):
            row["label"] = first + offset
        columns = {name: [row[name] for row in rows] for name in schema.names if name != "vector"}
        vectors = np.stack([row["vector"] for row in rows]).astype(np.float32).reshape(-1)
        arrays = [
            pa.FixedSizeListArray.from_arrays(pa.array(vectors), schema.field("vector").type.list_size)
            if name == "vector"
            else pa.array(columns[name], type=schema.field(name).type)
            for name in schema.names
        ]
        data = pa.Table.from_arrays(arrays, schema=schema)
        table = self._table()
        if table is None:
            table = self._handle = self._db.create_table(_TABLE, data=data, schema=schema)
        else:
            (
                table.merge_insert("row_id")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .when_not_matched_by_source_delete(f"doc_id IN ({sql_list(ids)})")
                .execute(data)
            )
        self._refresh_fts(table)
        return len(rows)

    def _reserve_labels(self, count: int, *, above: int = -1) -> int:
        """Reserve ``count`` new row labels (all greater than ``above``) in ``index.json``; return the first.

        Labels are never reused, across processes too (a lock file serialises the read-modify-write),
        so the accelerator can tell a new row from a replaced one by its label alone.
        """
        with _locked(self.path / ".labels.lock"):
            stored = json.loads((self.path / "index.json").read_text(encoding="utf-8"))
            first = max(int(stored.get("next_label", 0)), int(self.settings.get("next_label", 0)), above + 1)
            stored["next_label"] = self.settings["next_label"] = first + count
            _write_json(self.path / "index.json", stored)
        return first

    def _add_labels(self) -> None:
        """Give labels to rows that have none (an index made before labels, or written by an older embedlab).

        One commit, and only rows still without a label are changed; if it fails (a read-only index), the
        accelerator is turned off with a warning.
        """
        import pyarrow as pa

        table = self._table()
        if table is None:
            return
        try:
            if "label" not in table.schema.names:
                table.add_columns(pa.field("label", pa.int64()))
            missing = table.search().where("label IS NULL").select(["row_id"]).limit(None).to_arrow()
            if missing.num_rows:
                first = self._reserve_labels(missing.num_rows)
                labels = pa.array(np.arange(first, first + missing.num_rows), pa.int64())
                updates = pa.table({"row_id": missing.column("row_id"), "label": labels})
                table.merge_insert("row_id").when_matched_update_all(where="target.label IS NULL").execute(updates)
                self._refresh_fts(table)
        except (OSError, RuntimeError, ValueError) as exc:
            warnings.warn(
                f"Could not give the rows of {self.path} labels ({exc}); vector search uses LanceDB's exact "
                "scan, and writes will fail until the index is writable.",
                stacklevel=3,
            )
            self.ann = False

    def _refresh_fts(self, table: Any) -> None:
        """(Re)build the full-text index when missing or when too many rows are not in it yet.

        Rows not yet indexed are still searched (by a scan), so a small backlog costs little; rebuilding
        on every commit would make each small add cost as much as indexing the whole table.
        """
        from lancedb.index import FTS

        indices = [index for index in table.list_indices() if index.columns == ["fts_text"]]
        stale = indices and table.index_stats(indices[0].name).num_unindexed_rows > _FTS_STALE * table.count_rows()
        if not indices or stale:
            config = FTS(language="English", stem=True, remove_stop_words=True)
            table.create_index("fts_text", replace=True, config=config)

    def _use_ann(self, table: Any) -> bool:
        """Whether vector search goes through the accelerator (``auto``: once the table is big enough)."""
        if self.ann is False:
            return False
        if not self._ann_on:
            self._ann_on = self.ann is True or table.count_rows() >= ANN_AUTO_ROWS
        return self._ann_on

    def _sync(self, table: Any, *, save: bool = False) -> SyncReport:
        """Catch the accelerator up with the table's latest version, reading one pinned version."""
        snapshot = self._db.open_table(_TABLE)
        snapshot.checkout(snapshot.version)  # scan and takes read the same version
        try:
            report = self._accelerator.sync(snapshot, save=save)
        except MissingLabelsError:
            self._add_labels()  # rows written without labels by an older embedlab
            snapshot = self._db.open_table(_TABLE)
            snapshot.checkout(snapshot.version)
            report = self._accelerator.sync(snapshot, save=save)
        highest = self._accelerator.max_label
        if highest >= self.settings.get("next_label", 0):  # stale in memory (another writer), or index.json
            stored = json.loads((self.path / "index.json").read_text(encoding="utf-8"))  # was rolled back
            self.settings["next_label"] = max(self.settings.get("next_label", 0), stored.get("next_label", 0))
            if highest >= self.settings["next_label"]:
                self._reserve_labels(0, above=highest)  # so that no label in use is handed out again
        return report

    def _catch_up(self, table: Any) -> None:
        """Sync the accelerator if the table may have a newer version than the one it reflects.

        Asking LanceDB for the version costs a hop to its event-loop thread (0.1 ms idle, over 1 ms on a
        busy machine), more than a graph search, so it is skipped while the folder of Lance's version files
        keeps the modification time it had at the last check, unless that time was within
        :data:`_RACY_NS` of the check (a commit in the same clock tick could leave it unchanged; as git
        does for its index). Any commit, by any process, adds a file there and so changes it.
        """
        now = time.time_ns()
        try:
            stamp: int | None = os.stat(self._versions).st_mtime_ns
        except OSError:
            stamp = None  # another layout: always ask LanceDB
        seen, when = self._checked
        if stamp is not None and stamp == seen and stamp < when - _RACY_NS and self._accelerator.version is not None:
            return
        if self._accelerator.version != table.version:
            self._sync(table)
        self._checked = (stamp, now)

    def _vector_hits(
        self, table: Any, vector: np.ndarray, depth: int, filter: str | None, need: int = 0, *,
        only_needed: bool = False,
    ) -> dict[str, tuple[float, Any]]:  # fmt: skip
        """The best chunk of each document among the ``depth`` nearest chunks, widened to ``need`` documents.

        ``only_needed``: the caller keeps only the best ``need`` documents (vector mode), so the accelerator
        retrieves no more chunks than its search keeps anyway (``ef_search``), widening if they cover fewer
        than ``need`` documents, and stops collapsing once it has them: the same documents, less work.
        """
        if self._use_ann(table):
            self._catch_up(table)
            return self._ann_hits(table, vector, depth, filter, need, only_needed)

        def query(limit: int) -> Any:
            return table.search(vector, vector_column_name="vector").distance_type("cosine").limit(limit)

        return self._widening(table, query, depth, filter, need, lambda row: 1.0 - float(row["_distance"]))

    def _ann_hits(
        self, table: Any, vector: np.ndarray, depth: int, filter: str | None, need: int, only_needed: bool
    ) -> dict[str, tuple[float, Any]]:
        """Like :meth:`_widening`, through the accelerator; the rows stay in its memory until a hit needs one.

        A filter is evaluated by LanceDB (the labels of the matching rows, remembered until the table
        changes) and the graph searched among those rows only, so filtered results are those of a
        pre-filter, as on the exact path.
        """
        if only_needed:
            depth = max(need, min(depth, self.ef_search))
        allowed = None
        if filter:
            try:
                allowed = self._accelerator.allowed(table, filter)
            except (ValueError, RuntimeError, OSError) as exc:
                raise InputError(f"The search failed, probably on the filter {filter!r}: {exc}") from exc
        while True:
            found = self._accelerator.search(vector, depth, allowed)
            best: dict[str, tuple[float, Any]] = {}
            for doc, score, position in zip(found.doc_ids.tolist(), found.scores.tolist(), found.positions.tolist(),
                                            strict=True):  # fmt: skip
                if doc not in best:  # scores come best first: the first chunk seen is the document's best
                    best[doc] = (score, _Pending(found, position))
                    if only_needed and len(best) == need:
                        return best
            if len(best) >= need or len(found.positions) < depth or depth >= self._accelerator.status()["rows"]:
                return best
            depth *= 4

    def _bm25_hits(
        self, table: Any, text: str, depth: int, filter: str | None, need: int = 0
    ) -> dict[str, tuple[float, dict[str, Any]]]:
        if not text.strip():
            return {}

        def query(limit: int) -> Any:
            return table.search(text, query_type="fts", fts_columns="fts_text").limit(limit)

        return self._widening(table, query, depth, filter, need, lambda row: float(row["_score"]))

    def _widening(
        self, table: Any, query: Any, depth: int, filter: str | None, need: int, score: Any
    ) -> dict[str, tuple[float, dict[str, Any]]]:
        """Run ``query(depth)``, widening it while its chunks cover fewer than ``need`` documents."""
        while True:
            search = query(depth)
            if filter:
                search = search.where(filter, prefilter=True)
            try:
                rows = search.to_arrow().to_pylist()
            except (ValueError, RuntimeError, OSError) as exc:
                raise InputError(f"The search failed, probably on the filter {filter!r}: {exc}") from exc
            found = self._collapse(rows, score)
            if len(found) >= need or len(rows) < depth or depth >= table.count_rows():  # counted only when short
                return found
            depth *= 4

    def _collapse(self, rows: list[dict[str, Any]], score: Any) -> dict[str, tuple[float, dict[str, Any]]]:
        """Best chunk per parent document, by score."""
        best: dict[str, tuple[float, dict[str, Any]]] = {}
        for row in rows:
            value = score(row)
            if row["doc_id"] not in best or value > best[row["doc_id"]][0]:
                best[row["doc_id"]] = (value, row)
        return best

    def _fuse(
        self,
        components: dict[str, dict[str, tuple[float, Any]]],
        mode: str,
        fusion: str,
        alpha: float,
        k: int,
        min_score: float | None,
    ) -> list[Hit]:
        if mode == "hybrid":
            scores = {name: {doc: value for doc, (value, _) in hits.items()} for name, hits in components.items()}
            if fusion == "weighted":
                fused = weighted(scores["vector"], scores["bm25"], alpha=alpha)
            else:
                fused = rrf([sorted(s, key=lambda d: -s[d]) for s in scores.values()])
        else:
            fused = {doc: value for doc, (value, _) in components[mode].items()}
        ranked = sorted(fused, key=lambda doc: -fused[doc])
        chosen = [doc for doc in ranked if min_score is None or fused[doc] >= min_score][:k]
        rows = {doc: next(hits_[doc][1] for hits_ in components.values() if doc in hits_) for doc in chosen}
        pending = [(doc, row) for doc, row in rows.items() if isinstance(row, _Pending)]
        if pending:  # rows still in the accelerator's memory: read the chosen ones in one take
            import pyarrow as pa

            taken = pending[0][1].found.rows.take(pa.array([row.position for _, row in pending])).to_pylist()
            rows.update((doc, row) for (doc, _), row in zip(pending, taken, strict=True))
        hits = []
        for doc in chosen:
            row = rows[doc]
            hits.append(
                Hit(
                    doc_id=doc,
                    score=fused[doc],
                    text=row["text"],
                    chunk=int(row["chunk"]),
                    metadata={name: row.get(name) for name in self.settings["metadata_fields"]},
                    components={name: hits_[doc][0] for name, hits_ in components.items() if doc in hits_},
                )
            )
        return hits


@dataclass(frozen=True)
class _Pending:
    """A row the accelerator found, read from its memory only if the row becomes a hit."""

    found: Found
    position: int


def _options(options: Mapping[str, Any]) -> SearchOptions:
    try:
        return SearchOptions(**options)
    except TypeError as exc:
        raise InputError(f"Unknown search option: {exc}. Options: {', '.join(SearchOptions.__annotations__)}.") from exc


def _check_ann(ann: Any, ef_search: int) -> None:
    if ann not in (True, False, "auto") or not isinstance(ann, bool | str):
        raise InputError(f"ann must be True, False or 'auto'; got {ann!r}.")
    if ef_search < 1:
        raise InputError(f"ef_search must be at least 1, got {ef_search}.")


def _encoder(model: EmbeddingModel | Encoder | str | Path | None) -> Encoder:
    if isinstance(model, Encoder):
        return model
    return Encoder(model if isinstance(model, EmbeddingModel) else load_model(model), show_progress=None)


def _same_space(stored: Mapping[str, Any], given: Mapping[str, Any], *, what: str) -> None:
    if stored.get("fingerprint") != given.get("fingerprint"):
        raise IndexMismatchError(
            f"The index was built with {stored.get('name')} (fingerprint {str(stored.get('fingerprint'))[:12]}, "
            f"{stored.get('dimension')} dims) but {what} come from {given.get('name')} (fingerprint "
            f"{str(given.get('fingerprint'))[:12]}, {given.get('dimension')} dims). Vectors of different models "
            "are incomparable: use the index's model, or build a new index for the other model."
        )


def _metadata_value(value: Any, kind: str, name: str, doc_id: str) -> Any:
    """A metadata value converted to its declared type (None stays None), or a clear error."""
    if value is None:
        return None
    try:
        if kind == "string":
            return str(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            raise ValueError("not a boolean")
        converted = int(value) if kind == "int" else float(value)
        if kind == "int" and float(value) != converted:
            raise ValueError("not a whole number")
        return converted
    except (TypeError, ValueError) as exc:
        raise InputError(f"Document {doc_id}: metadata {name!r} = {value!r} is not {kind} ({exc}).") from None


def _document_id(document: Mapping[str, Any], position: int) -> str:
    if "id" not in document or document["id"] in (None, ""):
        raise InputError(f"Document {position} of the batch has no 'id'.")
    return str(document["id"])


def sql_list(values: Sequence[str]) -> str:
    """Values as a quoted SQL list for LanceDB filters (quotes doubled)."""
    return ", ".join("'" + str(value).replace("'", "''") + "'" for value in values)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes (flock; released when the process dies)."""
    with path.open("a") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)
