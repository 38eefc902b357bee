"""An index's rows: the LanceDB table of chunks, its Arrow schema, and whole-document writes.

Every document is stored as one or more chunk rows (``row_id`` ``DOC#CHUNK``, its parent ``doc_id``, its
character offsets, title, text, the text BM25 indexes, its vector, its ``label`` and the metadata
fields). Adding a document with an existing id replaces all its chunks in one LanceDB commit
(``merge_insert``), so a killed process leaves either the old or the new version, never both or none.

LanceDB's own errors while reading become :class:`~embedlab.errors.IndexDataError` naming the folder,
and a failed filtered query blames the filter only when the same query without it succeeds.

Example:
    >>> sql_list(["en", "it's"])
    "'en', 'it''s'"
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedlab.encode.documents import Chunk, ChunkEmbeddings
from embedlab.encode.text import with_title
from embedlab.errors import EmbedlabError, IndexDataError, InputError
from embedlab.index import fulltext
from embedlab.index.settings import Labels

if TYPE_CHECKING:
    from embedlab.encode import Encoder

TABLE = "chunks"
_READ_ERRORS = (OSError, RuntimeError, ValueError)  # what LanceDB raises for missing or unreadable data


class Rows:
    """The table of an index's chunk rows (one handle, always at the table's latest version).

    Raises:
        IndexDataError: ``lance/`` is gone although rows were written (labels were handed out).
    """

    def __init__(self, folder: Path, settings: dict[str, Any]) -> None:
        import lancedb

        self.folder = folder
        self.settings = settings
        self.labels = Labels(folder, settings)
        lance = folder / "lance"
        if not lance.is_dir() and settings.get("next_label", 0) > 0:
            raise IndexDataError(self._missing(f"there is no {lance} folder"))
        # read_consistency_interval=0: the one table handle sees other processes' commits at once
        self._db = lancedb.connect(str(lance), read_consistency_interval=timedelta(0))
        self._handle: Any = None
        self.versions = lance / f"{TABLE}.lance" / "_versions"  # a file per commit (Lance's layout)

    def table(self) -> Any:
        """The table, or ``None`` before the first add.

        Raises:
            IndexDataError: the table is missing although rows were written, or cannot be opened.
        """
        try:
            table = self._open()
            settled = table is not None or self.settings.get("next_label", 0) == 0
        except IndexDataError:
            table, settled = None, False  # a table that another writer is making reads as damaged: look again
        if not settled:
            table = self._open_when_made()
        if table is None and self.settings.get("next_label", 0) > 0:
            raise IndexDataError(self._missing(f"{self.folder / 'lance'} holds no '{TABLE}' table"))
        return table

    def _open_when_made(self) -> Any:
        """:meth:`_open` once no writer is making the table (the first commit makes it under the writers' lock)."""
        try:
            with self.labels.locked():
                return self._open()
        except OSError:  # a read-only index: nobody is making its table
            return self._open()

    def snapshot(self) -> Any:
        """The table pinned at its latest version (reads of it all see that version)."""
        with self.reading():
            snapshot = self._db.open_table(TABLE)
            snapshot.checkout(snapshot.version)
        return snapshot

    def count(self, condition: str | None = None) -> int:
        """Rows (matching ``condition``); 0 before the first add."""
        table = self.table()
        if table is None:
            return 0
        with self.reading():
            return int(table.count_rows(condition))

    @contextmanager
    def reading(self) -> Iterator[None]:
        """LanceDB's errors inside the block, as :class:`IndexDataError` naming the index."""
        try:
            yield
        except EmbedlabError:
            raise
        except _READ_ERRORS as exc:
            raise self._unreadable(exc) from exc

    def query(self, make: Callable[[str | None], Any], filter: str | None) -> Any:
        """``make(filter).to_arrow()``; if it fails, blame the filter only if ``make(None)`` succeeds.

        Raises:
            InputError: the filter is not a valid condition on this table.
            IndexDataError: the table cannot be read.
        """
        try:
            return make(filter).to_arrow()
        except EmbedlabError:
            raise
        except _READ_ERRORS as exc:
            if filter:
                try:
                    make(None).to_arrow()
                except _READ_ERRORS:
                    pass
                else:
                    raise InputError(f"The filter {filter!r} cannot be applied: {exc}") from exc
            raise self._unreadable(exc) from exc

    # -- writing -------------------------------------------------------------------------------------

    def row(
        self, document: Mapping[str, Any], chunk: int, start: int, end: int, text: str, vector: np.ndarray
    ) -> dict[str, Any]:
        """The row of one chunk of ``document`` (its label is given at commit)."""
        doc_id = str(document["id"])
        title = str(document.get("title") or "")
        fields = self.settings["metadata_fields"]
        unknown = sorted(set(document) - {"id", "text", "title", *fields})
        if unknown:
            raise InputError(
                f"Document {doc_id} has fields {unknown} that the index does not store; declare them as "
                f"metadata_fields when creating the index (it has {fields})."
            )
        return {
            "row_id": f"{doc_id}#{chunk}",
            "doc_id": doc_id,
            "chunk": chunk,
            "start": start,
            "end": end,
            "title": title,
            "text": text,
            "fts_text": with_title(title, text).strip(),
            "vector": np.asarray(vector, dtype=np.float32),
            **{name: _metadata_value(document.get(name), kind, name, doc_id) for name, kind in fields.items()},
        }

    def commit(self, rows: list[dict[str, Any]], ids: Sequence[str]) -> int:
        """Write ``rows`` as the whole new version of documents ``ids``, in one commit; return the rows written.

        The first commit creates the table under the writers' lock (labels reserved under it too): of two
        writers of a new index, one creates the table and the other merges into it, and no reader finds labels
        handed out but no table. Unlocked, both created it, and one failed or overwrote the other's rows.
        """
        if not rows:
            return 0
        if self._handle is None:  # no table seen yet: make it, or wait for the writer making it
            with self.labels.locked():
                if self._open() is None:
                    data = self._data(rows, self.labels.reserve(len(rows), held=True))
                    self._handle = self._db.create_table(TABLE, data=data, schema=data.schema)
                    fulltext.refresh(self._handle)
                    return len(rows)
        data = self._data(rows, self.labels.reserve(len(rows)))  # before the commit: a crash leaves unused labels
        table = self._open()
        (
            table.merge_insert("row_id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(f"doc_id IN ({sql_list(ids)})")
            .execute(data)
        )
        fulltext.refresh(table)
        return len(rows)

    def _data(self, rows: list[dict[str, Any]], first: int) -> Any:
        """``rows`` as an Arrow table of the index's schema, labelled ``first``, ``first + 1``..."""
        import pyarrow as pa

        schema = self.schema()
        for offset, row in enumerate(rows):
            row["label"] = first + offset
        vectors = np.stack([row["vector"] for row in rows]).astype(np.float32).reshape(-1)
        arrays = [
            pa.FixedSizeListArray.from_arrays(pa.array(vectors), schema.field("vector").type.list_size)
            if name == "vector"
            else pa.array([row[name] for row in rows], type=schema.field(name).type)
            for name in schema.names
        ]
        return pa.Table.from_arrays(arrays, schema=schema)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete documents (all their chunks) by id; return how many rows were removed."""
        table = self.table()
        if table is None or not ids:
            return 0
        before = self.count()
        table.delete(f"doc_id IN ({sql_list(ids)})")
        return before - self.count()

    def add_labels(self) -> bool:
        """Give labels to rows that have none (an index made before labels, or rows of an older embedlab).

        One commit, and only rows still without a label change. Returns ``False`` if that fails (a
        read-only index), with a warning.
        """
        import warnings

        import pyarrow as pa

        table = self.table()
        if table is None:
            return True
        try:
            if "label" not in table.schema.names:
                table.add_columns(pa.field("label", pa.int64()))
            missing = table.search().where("label IS NULL").select(["row_id"]).limit(None).to_arrow()
            if missing.num_rows:
                first = self.labels.reserve(missing.num_rows)
                labels = pa.array(np.arange(first, first + missing.num_rows), pa.int64())
                updates = pa.table({"row_id": missing.column("row_id"), "label": labels})
                table.merge_insert("row_id").when_matched_update_all(where="target.label IS NULL").execute(updates)
                fulltext.refresh(table)
        except _READ_ERRORS as exc:
            warnings.warn(
                f"Could not give the rows of {self.folder} labels ({exc}); vector search uses LanceDB's exact "
                "scan, and writes will fail until the index is writable.",
                stacklevel=3,
            )
            return False
        return True

    def schema(self) -> Any:
        """The Arrow schema of the rows: fixed columns, then the metadata fields with their declared types."""
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

    # -- reading -------------------------------------------------------------------------------------

    def chunk_vectors(self) -> tuple[list[str], np.ndarray]:
        """The parent document of every chunk row and the rows' full float32 vectors, in one read."""
        dimension = int(self.settings["model"]["dimension"])
        table = self.table()
        if table is None:
            return [], np.zeros((0, dimension), np.float32)
        with self.reading():
            data = table.search().select(["doc_id", "vector"]).limit(None).to_arrow()
        flat = data.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return data.column("doc_id").to_pylist(), np.asarray(flat, np.float32).reshape(-1, dimension)

    def document_vectors(self, condition: str | None) -> tuple[list[str], np.ndarray]:
        """Document ids and their unit vectors (mean of chunk vectors), in first-seen order."""
        empty: tuple[list[str], np.ndarray] = [], np.zeros((0, self.settings["model"]["dimension"]), np.float32)
        table = self.table()
        if table is None:
            return empty
        data = self.query(lambda where: _where(table.search().select(["doc_id", "vector"]).limit(None), where),
                          condition)  # fmt: skip
        doc_ids = data.column("doc_id").to_pylist()
        if not doc_ids:
            return empty
        vectors = np.stack(data.column("vector").to_numpy(zero_copy_only=False)).astype(np.float32)
        order = list(dict.fromkeys(doc_ids))
        position = {doc: i for i, doc in enumerate(order)}
        sums = np.zeros((len(order), vectors.shape[1]), np.float32)
        np.add.at(sums, [position[doc] for doc in doc_ids], vectors)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return order, sums / np.where(norms == 0, 1, norms)

    def _open(self) -> Any:
        if self._handle is None:
            with self.reading():
                if TABLE in self._db.list_tables().tables:
                    self._handle = self._db.open_table(TABLE)
        return self._handle

    def _unreadable(self, exc: Exception) -> IndexDataError:
        return IndexDataError(
            f"The index data in {self.folder / 'lance'} cannot be read ({exc}). Restore the folder from a copy, "
            "or rebuild the index."
        )

    def _missing(self, what: str) -> str:
        return (
            f"The index data of {self.folder} is missing: {what}, although rows were written to it "
            "(index.json has handed out row labels). Restore the folder from a copy, or rebuild the index."
        )


def validate(documents: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
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


def sql_list(values: Sequence[str]) -> str:
    """Values as a quoted SQL list for LanceDB filters (quotes doubled)."""
    return ", ".join("'" + str(value).replace("'", "''") + "'" for value in values)


def _where(query: Any, condition: str | None) -> Any:
    return query.where(condition) if condition else query


def _document_id(document: Mapping[str, Any], position: int) -> str:
    if "id" not in document or document["id"] in (None, ""):
        raise InputError(f"Document {position} of the batch has no 'id'.")
    return str(document["id"])


def _metadata_value(value: Any, kind: str, name: str, doc_id: str) -> Any:
    """A metadata value converted to its declared type (None stays None), or a clear error."""
    if value is None:
        return None
    try:
        if kind == "string":
            if not isinstance(value, str | int | float | bool):  # str() of a list or an object is no value
                raise ValueError("not a string, number or boolean")
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


def embed_for_index(
    encoder: Encoder, settings: Mapping[str, Any], documents: Sequence[Mapping[str, Any]]
) -> ChunkEmbeddings:
    """The chunks and chunk vectors that an index with ``settings`` stores for ``documents`` (validated first).

    With chunking off, each document is one chunk spanning its whole text (its title before it when encoded).
    """
    _, texts = validate(documents)
    if not texts:
        return ChunkEmbeddings([], np.zeros((0, settings["model"]["dimension"]), np.float32))
    titles = [document.get("title") or None for document in documents]
    if not settings.get("chunk", True):
        whole = [with_title(title, text) for title, text in zip(titles, texts, strict=True)]
        chunks = [Chunk(i, 0, 0, len(text), text, 0) for i, text in enumerate(texts)]
        return ChunkEmbeddings(chunks, encoder.encode(whole))
    return encoder.encode_chunks(texts, titles=titles, max_tokens=settings["chunk_tokens"], overlap=settings["overlap"])
