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

Example:
    >>> index = Index.create("my-index")  # bundled model
    >>> index.add([{"id": "1", "text": "The cat sleeps.", "lang": "en"}])  # doctest: +SKIP
    >>> index.search("Where is the kitten?", k=3, filter="lang = 'en'")  # doctest: +SKIP
    [Hit(doc_id='1', score=0.61, ...)]
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from embedlab import __version__
from embedlab.encode import Encoder
from embedlab.errors import IndexMismatchError, InputError
from embedlab.evaluate.retrieval import Ranking, SearchFn
from embedlab.index.fusion import rrf, weighted
from embedlab.index.rerank import load_reranker, rerank_hits
from embedlab.models import EmbeddingModel, ModelInfo, load_model

Mode = Literal["vector", "bm25", "hybrid"]
Fusion = Literal["rrf", "weighted"]

_FORMAT = 1
_TABLE = "chunks"
_FTS_STALE = 0.1  # rebuild the full-text index once this share of rows is not in it
METADATA_TYPES = ("string", "int", "float", "bool")
_RESERVED = {"id", "row_id", "doc_id", "chunk", "start", "end", "text", "title", "fts_text", "vector"}


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
        min_score: drop hits scoring below this (in the mode's own score, or the reranker's).
        fusion: ``rrf`` (reciprocal rank) or ``weighted`` (normalised scores) for hybrid.
        alpha: the vector side's weight in ``weighted`` fusion.
        candidates: chunks each component retrieves before documents are collapsed and fused.
        rerank: a sentence-transformers ``CrossEncoder`` (or its path) that re-scores the first
            ``rerank_top`` documents; its score becomes the hit's score (``components["rerank"]``).
        rerank_top: how many documents the cross-encoder sees.
    """

    mode: Mode = "vector"
    filter: str | None = None
    min_score: float | None = None
    fusion: Fusion = "rrf"
    alpha: float = 0.5
    candidates: int = 100
    rerank: Any = None
    rerank_top: int = 50

    def __post_init__(self) -> None:
        if self.mode not in ("vector", "bm25", "hybrid"):
            raise InputError(f"mode must be vector, bm25 or hybrid; got {self.mode!r}.")
        if self.fusion not in ("rrf", "weighted"):
            raise InputError(f"fusion must be rrf or weighted; got {self.fusion!r}.")
        if not 0 <= self.alpha <= 1:
            raise InputError(f"alpha must be between 0 and 1, got {self.alpha}.")


class Index:
    """Documents and vectors of one model in LanceDB; open with :meth:`create` or :meth:`open`."""

    def __init__(self, path: Path, encoder: Encoder, settings: dict[str, Any]) -> None:
        import lancedb

        if isinstance(settings["metadata_fields"], list):  # every field declared as a string
            settings["metadata_fields"] = dict.fromkeys(settings["metadata_fields"], "string")
        self.path = path
        self.encoder = encoder
        self.settings = settings
        self._db = lancedb.connect(str(path / "lance"))
        self._fts_ready = False

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
    ) -> Index:
        """Make a new, empty index at ``path`` for ``model`` (default: the bundled model).

        Long documents are cut into chunks of ``chunk_tokens`` (default: the model's limit) sharing
        ``overlap`` tokens; ``chunk=False`` stores one vector per document (the model truncates, with a
        warning), as most published benchmarks do.

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
        }
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "index.json", settings)
        return cls(folder, encoder, settings)

    @classmethod
    def open(cls, path: str | Path, model: EmbeddingModel | Encoder | str | Path | None = None) -> Index:
        """Open an index; with no model, load the one it was built with (by its recorded source).

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
        return cls(folder, encoder, settings)

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
        return {**self.settings, "documents": len(self), "chunks": 0 if table is None else table.count_rows()}

    def search(self, query: str, k: int = 10, **options: Any) -> list[Hit]:
        """The ``k`` best documents for ``query``; ``options`` are the fields of :class:`SearchOptions`.

        Example:
            >>> index.search("reset password", k=5, mode="hybrid", filter="lang = 'en'")  # doctest: +SKIP
        """
        return self.search_many([query], k, **options)[0]

    def search_many(self, queries: Sequence[str], k: int = 10, **options: Any) -> list[list[Hit]]:
        """:meth:`search` for several queries (their vectors are encoded in one batch)."""
        try:
            chosen = SearchOptions(**options)
        except TypeError as exc:
            raise InputError(
                f"Unknown search option: {exc}. Options: {', '.join(SearchOptions.__annotations__)}."
            ) from exc
        mode, filter, min_score, rerank = chosen.mode, chosen.filter, chosen.min_score, chosen.rerank
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}.")
        table = self._table()
        if table is None:
            return [[] for _ in queries]
        cross_encoder = load_reranker(rerank) if rerank is not None else None
        first_stage = max(k, chosen.rerank_top) if cross_encoder is not None else k
        depth = max(chosen.candidates, 4 * first_stage)
        vectors = self.encoder.encode(list(queries)) if mode != "bm25" else None
        results = []
        for position, query in enumerate(queries):
            components: dict[str, dict[str, tuple[float, dict[str, Any]]]] = {}
            if vectors is not None:
                components["vector"] = self._vector_hits(table, vectors[position], depth, filter, first_stage)
            if mode != "vector":
                components["bm25"] = self._bm25_hits(table, query, depth, filter, first_stage)
            hits = self._fuse(
                components, mode, chosen.fusion, chosen.alpha, first_stage, None if cross_encoder else min_score
            )
            if cross_encoder is not None:
                hits = rerank_hits(cross_encoder, query, hits, k, min_score)
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

    def search_fn(self, mode: Mode = "vector", **options: Any) -> SearchFn:
        """A search function for :func:`embedlab.evaluate.evaluate` (same metrics for every mode)."""

        def search(queries: Sequence[str], k: int) -> list[Ranking]:
            hits = self.search_many(list(queries), k, mode=mode, **options)
            return [[(hit.doc_id, hit.score) for hit in found] for found in hits]

        return search

    # -- internals ----------------------------------------------------------------------------------

    def _table(self) -> Any:
        return self._db.open_table(_TABLE) if _TABLE in self._db.table_names() else None

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
        embedded = self.encoder.encode_documents(
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
        ]
        fields += [pa.field(name, kinds[kind]) for name, kind in self.settings["metadata_fields"].items()]
        return pa.schema(fields)

    def _commit(self, rows: list[dict[str, Any]], ids: Sequence[str]) -> int:
        import pyarrow as pa

        if not rows:
            return 0
        schema = self._schema()
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
            table = self._db.create_table(_TABLE, data=data, schema=schema)
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

    def _refresh_fts(self, table: Any) -> None:
        """(Re)build the full-text index when missing or when too many rows are not in it yet.

        Rows not yet indexed are still searched (by a scan), so a small backlog costs little; rebuilding
        on every commit would make each small add cost as much as indexing the whole table.
        """
        indices = [index for index in table.list_indices() if index.columns == ["fts_text"]]
        stale = indices and table.index_stats(indices[0].name).num_unindexed_rows > _FTS_STALE * table.count_rows()
        if not indices or stale:
            table.create_fts_index("fts_text", use_tantivy=False, replace=True, language="English", stem=True,
                                   remove_stop_words=True)  # fmt: skip

    def _vector_hits(
        self, table: Any, vector: np.ndarray, depth: int, filter: str | None, need: int = 0
    ) -> dict[str, tuple[float, dict[str, Any]]]:
        def query(limit: int) -> Any:
            return table.search(vector, vector_column_name="vector").distance_type("cosine").limit(limit)

        return self._widening(table, query, depth, filter, need, lambda row: 1.0 - float(row["_distance"]))

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
        components: dict[str, dict[str, tuple[float, dict[str, Any]]]],
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
        hits = []
        for doc in ranked:
            if min_score is not None and fused[doc] < min_score:
                continue
            row = next(hits_[doc][1] for hits_ in components.values() if doc in hits_)
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
            if len(hits) == k:
                break
        return hits


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


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)
