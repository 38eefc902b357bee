"""The embedlab index: documents, metadata and vectors in LanceDB on disk, tied to one model.

An index is a folder: ``index.json`` (the model's info and fingerprint, vector settings, chunking,
metadata fields; :mod:`embedlab.index.settings`) and ``lance/`` (an embedded LanceDB database, no server;
:mod:`embedlab.index.rows`). Every document is stored as one or more chunk rows (long documents are
chunked by tokens; each row keeps its parent ``doc_id`` and its character offsets), and search returns
parent documents. Adding a document with an existing id replaces all its chunks in one commit. A query,
a model or precomputed vectors from another vector space are refused with
:class:`~embedlab.errors.IndexMismatchError` naming both models.

Search modes (:mod:`embedlab.index.search`): ``vector`` (cosine over the vectors), ``bm25`` (LanceDB's
full-text index, English stemming and stop words) and ``hybrid`` (reciprocal rank fusion, or weighted
normalised scores with ``alpha``), each hit reporting its per-component scores. :meth:`Index.search_fn`
plugs any mode into the evaluation suite. Vector search over a large index goes through an in-memory HNSW
accelerator kept in step with LanceDB (:mod:`embedlab.index.ann`).

Example:
    >>> index = Index.create(tmp / "my-index", model, metadata_fields=["lang"])  # model=None: the bundled one
    >>> index.add([{"id": "1", "text": "The cat sleeps.", "lang": "en"}, {"id": "2", "text": "Il dort.", "lang": "fr"}])
    2
    >>> [hit.doc_id for hit in index.search("Where is the kitten?", k=3, filter="lang = 'en'")]
    ['1']
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from embedlab.encode import Encoder
from embedlab.encode.documents import ChunkEmbeddings, check_window
from embedlab.errors import IndexMismatchError, InputError
from embedlab.evaluate.retrieval import Ranking, SearchFn
from embedlab.index import compact
from embedlab.index import search as searching
from embedlab.index.ann import Accelerator, SyncReport
from embedlab.index.compact import Precision
from embedlab.index.compat import query_encoder
from embedlab.index.hits import Hit, fuse
from embedlab.index.hnsw import EF_CONSTRUCTION, EF_SEARCH, M
from embedlab.index.options import Mode, search_options
from embedlab.index.rows import Rows, embed_for_index, sql_list, validate
from embedlab.index.settings import (
    Ann,
    check_ann,
    check_fields,
    check_free,
    claim,
    model_spec,
    new_settings,
    read_settings,
    same_space,
)
from embedlab.models import EmbeddingModel, ModelInfo, load_model
from embedlab.operate.thresholds import Threshold, calibrated, index_threshold, score_floor


class Index:
    """Documents and vectors of one model in LanceDB; open with :meth:`create`, :meth:`build` or :meth:`open`.

    ``ann`` and ``ef_search`` are those of :meth:`create`; ``None`` takes the ones saved with the index.
    """

    def __init__(
        self, path: Path, encoder: Encoder, settings: dict[str, Any], *, ann: Ann | None = None,
        ef_search: int | None = None,
    ) -> None:  # fmt: skip
        if isinstance(settings["metadata_fields"], list):  # every field declared as a string
            settings["metadata_fields"] = dict.fromkeys(settings["metadata_fields"], "string")
        #: What encodes queries: the index's model, or a variant of it that passed parity (see ``compat``).
        self.query_encoder = query_encoder(settings["model"], encoder.info)
        self.path = path
        self.encoder = encoder
        self.settings = settings
        stored = {"mode": "auto", "m": M, "ef_construction": EF_CONSTRUCTION, "ef_search": EF_SEARCH,
                  **settings.get("ann", {})}  # fmt: skip
        mode = stored["mode"] if ann is None else ann
        ef_search = int(stored["ef_search"] if ef_search is None else ef_search)
        check_ann(mode, ef_search)
        settings.setdefault("precision", "float32")
        settings.setdefault("dims", None)
        self._rows = Rows(path, settings)
        self._accelerator = Accelerator(
            self._rows, ["doc_id", "chunk", "text", *settings["metadata_fields"]], mode=mode, ef_search=ef_search,
            m=stored["m"], ef_construction=stored["ef_construction"],
        )  # fmt: skip

    @property
    def ann(self) -> Ann:
        """Whether vector search uses the ANN accelerator: ``True``, ``False`` or ``"auto"`` (by size)."""
        return self._accelerator.mode

    @property
    def ef_search(self) -> int:
        """Candidates the accelerator keeps while searching (settable: higher is slower, closer to exact)."""
        return self._accelerator.ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        check_ann(self.ann, value)
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
        precision: Precision = "float32",
        dims: int | None = None,
    ) -> Index:
        """Make a new, empty index at ``path`` for ``model`` (default: the bundled model).

        Long documents are cut into chunks of ``chunk_tokens`` (default: the model's limit) sharing
        ``overlap`` tokens; ``chunk=False`` stores one vector per document (the model truncates, with a
        warning), as most published benchmarks do.

        ``ann`` turns the in-memory HNSW accelerator of vector search on (``True``), off (``False``: exact
        LanceDB search), or on from :data:`~embedlab.index.ann.ANN_AUTO_ROWS` rows (``"auto"``).
        ``ef_search`` is how many candidates it keeps (at least the number of chunks a search retrieves):
        higher is slower and closer to exact. Both are saved with the index; :meth:`open` can override them.

        ``precision`` (float32, float16, int8 or binary) and ``dims`` (Matryoshka truncation, renormalised)
        are the form of the in-memory search vectors (:mod:`embedlab.index.compact`); LanceDB keeps the
        full float32 vectors, which re-score a compressed search's candidates (search option ``rescore``).
        A compressed index searches through its in-memory structure at any size unless ``ann=False``.

        ``metadata_fields`` are names (stored as strings) or ``{name: type}`` with a type among
        :data:`~embedlab.index.settings.METADATA_TYPES`; they can be filtered on in :meth:`search` and may
        be missing (null).

        The folder is claimed atomically: of two processes creating the same index at once, one wins and
        the other gets an :class:`InputError` without having written anything.

        Raises:
            InputError: ``path`` is a file or already holds something (another process's new index
                included), a metadata field name is reserved, a type is unknown, ``chunk_tokens`` is under 1
                or ``overlap`` is negative or not smaller than it, an unknown ``precision``, ``dims`` out of
                the model's range (a model not trained for Matryoshka truncation only warns).
        """
        folder = Path(path)
        check_free(folder)  # before loading the model; claim() decides, atomically
        fields = check_fields(metadata_fields)
        check_ann(ann, ef_search)
        check_window(chunk_tokens, overlap)
        encoder = _encoder(model)
        precision, dims = compact.check(precision, dims, encoder.info.to_dict())
        ann_settings = {"mode": ann, "m": M, "ef_construction": EF_CONSTRUCTION, "ef_search": ef_search}
        settings = new_settings(encoder.info, normalized=encoder.normalize, chunk=chunk, chunk_tokens=chunk_tokens,
                                overlap=overlap, fields=fields, ann=ann_settings, precision=precision,
                                dims=dims)  # fmt: skip
        claim(folder, settings)
        return cls(folder, encoder, settings)

    @classmethod
    def build(
        cls,
        path: str | Path,
        documents: Iterable[Mapping[str, Any]],
        model: EmbeddingModel | Encoder | str | Path | None = None,
        **options: Any,
    ) -> Index:
        """:meth:`create` an index at ``path`` (``options`` are its keywords) and :meth:`add` ``documents``.

        If adding fails, what this build made is removed (the folder too, if it made it), and nothing else:
        a build that lost the race for the folder to another process never touches that one's index.
        """
        folder = Path(path)
        existed = folder.exists()
        index = cls.create(folder, model, **options)
        try:
            index.add(documents)
        except BaseException:
            index._remove(keep_folder=existed)
            raise
        return index

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

        ``model`` may also be a faster variant of the index's model whose parity passed
        (:mod:`embedlab.index.compat`): it then encodes queries, and the index opens for search only.
        ``ann`` and ``ef_search`` override the ones saved with the index (see :meth:`create`). An index
        made before rows had labels gets them now (one commit); if that fails, the accelerator is off.

        Raises:
            InputError: no index at ``path`` or an unreadable or malformed ``index.json``.
            IndexDataError: its LanceDB data is missing or unreadable.
            IndexMismatchError: ``model`` is neither the model the index was built with nor a variant of it
                that passed parity (the figures in the message).
        """
        folder = Path(path)
        settings = read_settings(folder)
        stored = settings["model"]
        if model is None:
            model = model_spec(stored)
        encoder = _encoder(model)
        index = cls(folder, encoder, settings, ann=ann, ef_search=ef_search)
        table = index._table()
        if table is not None and "label" not in table.schema.names and not index._rows.add_labels():
            index._accelerator.mode = False  # made by an embedlab before labels, and not writable
        return index

    # -- writing ------------------------------------------------------------------------------------

    def add(self, documents: Iterable[Mapping[str, Any]], *, batch: int = 1024) -> int:
        """Add or replace documents (dicts with ``id``, ``text``, optional ``title`` and metadata fields).

        Each batch of documents is one LanceDB commit. Returns the number of chunk rows written.

        Raises:
            IndexMismatchError: the index was opened with a variant of its model (documents' vectors come
                from the index's own model; :mod:`embedlab.index.compat`).
        """
        self._check_writable()
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
        same_space(self.settings["model"], model.to_dict() if isinstance(model, ModelInfo) else dict(model),
                   what="the vectors")  # fmt: skip
        ids, texts = validate(documents)
        dimension = self.settings["model"]["dimension"]
        if vectors.ndim != 2 or vectors.shape[1] != dimension or len(vectors) != len(documents):
            raise IndexMismatchError(
                f"Expected {len(documents)} vectors of dimension {dimension}, got an array of shape {vectors.shape}."
            )
        rows = [
            self._rows.row(document, 0, 0, len(text), text, vector)
            for document, text, vector in zip(documents, texts, vectors.astype(np.float32), strict=True)
        ]
        return self._rows.commit(rows, ids)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete documents (all their chunks) by id; return how many rows were removed."""
        return self._rows.delete(ids)

    # -- reading ------------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of documents."""
        return self._rows.count("chunk = 0")  # every document has a chunk 0

    def info(self) -> dict[str, Any]:
        """The stored settings with document and chunk counts, and what encodes queries (``query_encoder``)."""
        ann = {"mode": self.ann, "ef_search": self.ef_search, **self._accelerator.status()}
        return {
            **self.settings,
            "query_encoder": self.query_encoder,
            "documents": len(self),
            "chunks": self._rows.count(),
            "ann": {**self.settings.get("ann", {}), **ann},
        }

    def search(self, query: str, k: int = 10, **options: Any) -> list[Hit]:
        """The ``k`` best documents for ``query``; ``options`` are the fields of :class:`SearchOptions`.

        Example:
            >>> # not run: needs an index with a lang field
            >>> index.search("reset password", k=5, mode="hybrid", filter="lang = 'en'")  # doctest: +SKIP
        """
        return self.search_many([query], k, **options)[0]

    def search_many(self, queries: Sequence[str], k: int = 10, **options: Any) -> list[list[Hit]]:
        """:meth:`search` for several queries (their vectors are encoded in one batch)."""
        chosen = calibrated(self, search_options(options))
        _check_k(k)
        if self._table() is None:
            return [[] for _ in queries]
        vectors = self.encoder.encode(list(queries), task="query") if chosen.mode != "bm25" else None
        return searching.search(self._rows, self._accelerator, list(queries), vectors, k, chosen)

    def search_vectors(self, vectors: np.ndarray, k: int = 10, **options: Any) -> list[list[Hit]]:
        """Vector search with query vectors already encoded by the index's model, one row per query.

        ``options`` are those of :class:`SearchOptions` except ``mode`` (always ``vector``) and ``rerank``
        (a cross-encoder needs the query text). This is the path to time the search itself.

        Raises:
            IndexMismatchError: the vectors have another dimension than the index's.
        """
        chosen = calibrated(self, search_options({**options, "mode": "vector"}))
        if chosen.rerank is not None:
            raise InputError("search_vectors cannot rerank (the cross-encoder needs the query text); use search.")
        _check_k(k)
        matrix = np.atleast_2d(np.asarray(vectors, np.float32))
        dimension = self.settings["model"]["dimension"]
        if matrix.ndim != 2 or matrix.shape[1] != dimension:
            raise IndexMismatchError(f"Expected query vectors of dimension {dimension}, got shape {matrix.shape}.")
        return searching.search(self._rows, self._accelerator, [""] * len(matrix), matrix, k, chosen)

    def chunk_vectors(self) -> tuple[list[str], np.ndarray]:
        """The parent document of every chunk row and the rows' full float32 vectors (LanceDB's), in one read."""
        return self._rows.chunk_vectors()

    def similar(self, doc_id: str, k: int = 10, *, filter: str | None = None) -> list[Hit]:
        """The documents most similar to document ``doc_id`` (the mean of its chunk vectors), itself left out."""
        if self._table() is None:
            raise InputError(f"No document {doc_id!r}: the index is empty.")
        ids, matrix = self._rows.document_vectors(f"doc_id = {sql_list([doc_id])}")
        if not ids:
            raise InputError(f"No document {doc_id!r} in the index.")
        condition = f"doc_id != {sql_list([doc_id])}" + (f" AND ({filter})" if filter else "")
        found = searching.vector_candidates(self._rows, self._accelerator, matrix[0], max(100, 4 * k), condition)
        return fuse({"vector": found}, k, mode="vector", fields=list(self.settings["metadata_fields"]))

    def near_duplicates(
        self, threshold: float | Literal["calibrated"] | Threshold = 0.95, *, block: int = 2048
    ) -> list[tuple[str, str, float]]:
        """Pairs of documents whose vectors (mean of chunks) have cosine >= ``threshold``, most similar first.

        ``threshold`` may be ``"calibrated"`` (the index's :meth:`calibrated_threshold`) or a
        :class:`~embedlab.operate.thresholds.Threshold` (refused if measured with another model or precision).
        Computed block by block with matrix products (no pair loop in Python): memory ``block x n``.
        """
        threshold = score_floor(self, threshold)
        ids, matrix = self._rows.document_vectors(None)
        pairs: list[tuple[str, str, float]] = []
        for start in range(0, len(ids), block):
            scores = matrix[start : start + block] @ matrix.T
            later = np.arange(matrix.shape[0])[None, :] > np.arange(start, start + len(scores))[:, None]
            rows, cols = np.nonzero(later & (scores >= threshold))  # each pair once, never a document with itself
            pairs.extend((ids[start + r], ids[c], float(scores[r, c])) for r, c in zip(rows, cols, strict=True))
        return sorted(pairs, key=lambda pair: -pair[2])

    def calibrated_threshold(self) -> Threshold:
        """The threshold calibrated for this index (``INDEX/threshold.json``), checked against it.

        Raises:
            InputError: none was attached (``embedlab threshold calibrate --index``), or it is unreadable.
            IndexMismatchError: it was calibrated with another model, backend, precision or dims.
        """
        return index_threshold(self)

    def sync_ann(self) -> SyncReport:
        """Build the ANN accelerator, or bring it up to date with the table, and save it if it has new rows.

        Searches do this by themselves (without saving small changes); call it to pay the cost at a time
        of your choosing, e.g. after a bulk load, or before a process that added rows exits.

        Raises:
            InputError: the accelerator is off for this index (``ann=False``), or the index is empty.
        """
        if self.ann is False:
            raise InputError(f"The ANN accelerator is off for {self.path} (ann=False).")
        if self._table() is None:
            raise InputError(f"{self.path} is empty: add documents before building the ANN accelerator.")
        return self._accelerator.sync(save=True)

    def search_fn(self, mode: Mode = "vector", **options: Any) -> SearchFn:
        """A search function for :func:`embedlab.evaluate.evaluate` (same metrics for every mode)."""

        def search(queries: Sequence[str], k: int) -> list[Ranking]:
            hits = self.search_many(list(queries), k, mode=mode, **options)
            return [[(hit.doc_id, hit.score) for hit in found] for found in hits]

        return search

    # -- internals ----------------------------------------------------------------------------------

    def _table(self) -> Any:
        """The LanceDB table (one handle, always at its latest version), or ``None`` before the first add."""
        return self._rows.table()

    def _check_writable(self) -> None:
        variant = self.query_encoder["variant"]
        if variant is not None:
            raise IndexMismatchError(
                f"{self.path} was opened with {self.query_encoder['model']}, a {variant['kind']} variant of its model "
                f"{self.settings['model']['name']}: a variant encodes queries only, the documents' vectors come from "
                "the index's model. Open the index with its model (no --model) to add documents."
            )

    def commit_chunks(self, documents: Sequence[Mapping[str, Any]], embedded: ChunkEmbeddings) -> int:
        """Write documents whose chunks and vectors are already encoded (:func:`.rows.embed_for_index`), in one commit.

        What :meth:`add` does after encoding; the Ray engine (:mod:`embedlab.scale`) encodes on its workers
        and commits here. Returns the number of chunk rows written.
        """
        self._check_writable()
        ids, _ = validate(documents)
        rows = [
            self._rows.row(documents[chunk.doc_index], chunk.chunk_index, chunk.start, chunk.end, chunk.text, vector)
            for chunk, vector in zip(embedded.chunks, embedded.chunk_vectors, strict=True)
        ]
        return self._rows.commit(rows, ids)

    def _add_batch(self, documents: Sequence[Mapping[str, Any]]) -> int:
        return self.commit_chunks(documents, embed_for_index(self.encoder, self.settings, documents))

    def _remove(self, *, keep_folder: bool) -> None:
        """Delete this index's files (and its folder unless ``keep_folder``): undo a build that failed."""
        if not keep_folder:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for entry in self.path.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _check_k(k: int) -> None:
    if k < 1:
        raise InputError(f"k must be at least 1, got {k}.")


def _encoder(model: EmbeddingModel | Encoder | str | Path | None) -> Encoder:
    if isinstance(model, Encoder):
        return model
    return Encoder(model if isinstance(model, EmbeddingModel) else load_model(model), show_progress=None)
