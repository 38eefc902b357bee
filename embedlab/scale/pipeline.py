"""The Ray Data pipeline: read the input, encode in an actor pool of embedlab encoders, commit on the driver.

Ray Data reads the input (:mod:`embedlab.scale.read`: files, or documents the driver puts in the object
store); ``map_batches`` sends batches of rows to a pool of actors, each of which loads the model once and
verifies its fingerprint, turns rows into documents as one process does (:func:`~embedlab.scale.read.documents`),
and encodes them with the same code as :meth:`Index.add <embedlab.index.Index.add>`
(:func:`~embedlab.index.rows.embed_for_index`). The driver commits whole documents to the index, ``commit_size``
documents per LanceDB commit, and records them in the :class:`~embedlab.scale.ledger.Ledger`. A killed actor is
restarted by Ray and its batches are retried; a killed driver leaves every committed batch, and a re-run skips them.

Example:
    >>> # not run: needs Ray; see embedlab.scale for the public API
    >>> add_with_ray(Index.open("my-index"), "docs.jsonl", cluster=Cluster(actors=8))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedlab.encode import Chunk, ChunkEmbeddings, Encoder
from embedlab.errors import EmbedlabError, IndexMismatchError, InputError
from embedlab.index.settings import model_spec
from embedlab.scale.cluster import Cluster, Progress, connected
from embedlab.scale.ledger import Ledger, to_encode
from embedlab.scale.read import Fields, check_source, documents, read_dataset

if TYPE_CHECKING:
    import pyarrow as pa

    from embedlab.index.store import Index

#: The encoder settings an actor copies from the driver's encoder (everything that changes a vector).
ENCODER_SETTINGS = ("batch_size", "normalize", "normalize_text", "on_empty", "max_chars", "prompt")


@dataclass(frozen=True)
class Added:
    """What :func:`add_with_ray` did: documents committed by this run, and those it skipped as committed before."""

    documents: int
    skipped: int
    chunks: int
    commits: int
    seconds: float
    actors: int


@dataclass
class _Pending:
    """Documents encoded but not committed yet, with their chunks (doc_index into ``documents``)."""

    documents: list[dict[str, Any]] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)


class _Worker:
    """An actor's state: the model loaded once and checked against the fingerprint the driver expects."""

    def __init__(self, spec: str | None, fingerprint: str, settings: Mapping[str, Any], fields: Fields) -> None:
        from embedlab.models import load_model

        model = load_model(spec)
        if model.fingerprint != fingerprint:
            raise IndexMismatchError(
                f"The model at {spec or 'bundled'} on this Ray node has fingerprint {model.info.short_fingerprint}, "
                f"not {fingerprint[:12]}: install the same model on every node."
            )
        self.encoder = Encoder(model, show_progress=False, **settings)
        self.fields = fields


class IndexWorker(_Worker):
    """Encode a batch of rows as an index stores them, skipping documents already committed with this content."""

    def __init__(self, spec: str | None, fingerprint: str, settings: Mapping[str, Any], fields: Fields,
                 index_settings: Mapping[str, Any], committed: Any) -> None:  # fmt: skip
        import ray

        super().__init__(spec, fingerprint, settings, fields)
        self.index_settings = index_settings
        self.committed: Mapping[str, str] = ray.get(committed)

    def __call__(self, batch: pa.Table) -> pa.Table:
        """One output row per input document: the document, its content hash and its chunks (none if skipped)."""
        from embedlab.index.rows import embed_for_index

        found = documents(batch, self.fields)
        todo, hashes = to_encode(found, self.committed)
        dimension = self.index_settings["model"]["dimension"]
        embedded = embed_for_index(self.encoder, self.index_settings, todo)
        encoding = {id(document) for document in todo}
        skipped = [document for document in found if id(document) not in encoding]
        return chunk_table([*todo, *skipped], [*hashes, *[None] * len(skipped)], embedded, dimension)


class FileWorker(_Worker):
    """Encode a batch of rows to one float32 vector per text, as :func:`~embedlab.encode.files.encode_file` does."""

    def __init__(self, spec: str | None, fingerprint: str, settings: Mapping[str, Any], fields: Fields,
                 chunking: Mapping[str, Any] | None) -> None:  # fmt: skip
        super().__init__(spec, fingerprint, settings, fields)
        self.chunking = chunking

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Ids (null without an id field), vectors and how many chunks made each vector (1 without chunking)."""
        import pyarrow as pa

        found = documents(batch, self.fields)
        texts = [document["text"] for document in found]
        counts: np.ndarray = np.ones(len(found), np.int32)
        if self.chunking is None:
            vectors = self.encoder.encode(texts)
        else:
            titles = [document.get("title") for document in found]
            embedded = self.encoder.encode_documents(texts, titles=titles, **self.chunking)
            vectors, counts = embedded.vectors, np.bincount(embedded.chunk_doc_index, minlength=len(found))
        ids = [document["id"] for document in found] if self.fields.id else [None] * len(found)
        flat = pa.array(np.ascontiguousarray(vectors, np.float32).reshape(-1), pa.float32())
        return pa.table({"id": pa.array(ids, pa.string()), "chunks": pa.array(counts, pa.int32()),
                         "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])})  # fmt: skip


def chunk_table(
    found: Sequence[Mapping[str, Any]], hashes: Sequence[str | None], embedded: ChunkEmbeddings, dimension: int
) -> pa.Table:
    """Documents as rows ``id, document (JSON), hash, chunks: list<struct>`` (chunks' ``doc_index`` into ``found``)."""
    import pyarrow as pa

    per_document: list[list[int]] = [[] for _ in found]
    for position, chunk in enumerate(embedded.chunks):
        per_document[chunk.doc_index].append(position)
    order = [position for positions in per_document for position in positions]
    chunks = [embedded.chunks[position] for position in order]
    vectors = np.asarray(embedded.chunk_vectors, np.float32)[order].reshape(-1)
    struct = pa.StructArray.from_arrays(
        [pa.array([c.chunk_index for c in chunks], pa.int32()), pa.array([c.start for c in chunks], pa.int32()),
         pa.array([c.end for c in chunks], pa.int32()), pa.array([c.text for c in chunks], pa.string()),
         pa.FixedSizeListArray.from_arrays(pa.array(vectors, pa.float32()), dimension)],
        names=["chunk", "start", "end", "text", "vector"],
    )  # fmt: skip
    offsets = pa.array(np.cumsum([0, *map(len, per_document)]), pa.int32())
    return pa.table({
        "id": pa.array([str(document["id"]) for document in found], pa.string()),
        "document": pa.array([json.dumps(doc, ensure_ascii=False, default=str) for doc in found], pa.string()),
        "hash": pa.array(list(hashes), pa.string()),
        "chunks": pa.ListArray.from_arrays(offsets, struct),
    })  # fmt: skip


def add_with_ray(
    index: Index,
    source: str | Path,
    *,
    text_field: str | None = None,
    id_field: str | None = None,
    title_field: str | None = None,
    cluster: Cluster | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Added:
    """Add the documents of ``source`` to ``index`` with Ray: exactly once each, resumable, as :meth:`Index.add` would.

    Documents already committed with the same content by the index's model are skipped (a re-run after a crash
    adds only what is missing; a second run adds nothing). ``on_progress`` is called after each commit.

    Raises:
        InputError: an unreadable input, a missing field, an id that repeats in the input (the documents
            before it stay committed), a document without text.
        IndexMismatchError: the index was opened with a variant of its model, or a node's model differs.
        MissingExtraError: Ray is not installed.
    """
    cluster = cluster or Cluster()
    index._check_writable()  # before any work: documents are encoded by the index's own model only
    fields = Fields(text_field or "text", id_field, title_field, tuple(index.settings["metadata_fields"]))
    started = time.perf_counter()
    check_source(source)
    with connected(cluster) as actors:
        dataset, fields = read_dataset(source, fields)
        if fields.id is None:
            raise InputError(
                f"{source}: documents need an id field (id or _id, or --id-field) to be added exactly once."
            )
        return _add(index, dataset, fields, cluster, actors, started, on_progress)


def add_documents_with_ray(
    index: Index,
    batches: Iterable[Sequence[Mapping[str, Any]]],
    *,
    cluster: Cluster | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Added:
    """Add documents (dicts as :meth:`Index.add` takes them) with Ray, as :func:`add_with_ray` adds a file's.

    What ``embedlab migrate build --engine ray`` runs on the texts an index stores. Each batch goes into Ray's
    object store as it is read (the driver holds one batch at a time; the object store spills to disk), then
    the actors encode and the driver commits as for a file: exactly once each, resumable through the ledger.

    Raises:
        InputError: a document without text, an id that repeats.
        IndexMismatchError: the index was opened with a variant of its model, or a node's model differs.
        MissingExtraError: Ray is not installed.
    """
    cluster = cluster or Cluster()
    index._check_writable()
    fields = Fields("text", "id", "title", tuple(index.settings["metadata_fields"]))
    started = time.perf_counter()
    with connected(cluster) as actors:
        import pyarrow as pa
        import ray
        import ray.data

        rows = index._rows.schema()
        schema = pa.schema([pa.field("id", pa.string()), pa.field("text", pa.string()), pa.field("title", pa.string()),
                            *(rows.field(name) for name in fields.metadata)])  # fmt: skip
        blocks: list[Any] = [ray.put(pa.Table.from_pylist(list(map(dict, batch)), schema=schema)) for batch in batches]
        dataset = ray.data.from_arrow_refs(blocks or [ray.put(schema.empty_table())])
        return _add(index, dataset, fields, cluster, actors, started, on_progress)


def _add(
    index: Index,
    dataset: Any,
    fields: Fields,
    cluster: Cluster,
    actors: int,
    started: float,
    on_progress: Callable[[Progress], None] | None,
) -> Added:
    """Encode ``dataset``'s rows in the actor pool and commit them on the driver (Ray connected)."""
    import ray

    stored = index.settings["model"]
    ledger = Ledger(index.path, stored["fingerprint"])
    total = dataset.count()
    committed = ray.put(ledger.committed())
    encoded = dataset.map_batches(
        IndexWorker, fn_constructor_args=(model_spec(stored), stored["fingerprint"], _settings(index.encoder),
                                          fields, index.settings, committed),
        **_pool(cluster, actors),
    )  # fmt: skip
    progress = Progress(0, 0, 0, total, 0.0)
    pending, seen, chunks, commits = _Pending(), set[str](), 0, 0
    for block in _blocks(encoded, preserve_order=False):
        skipped = _take(block, pending, seen)
        progress = Progress(progress.done + skipped, progress.committed, progress.skipped + skipped, total,
                            time.perf_counter() - started)  # fmt: skip
        while len(pending.documents) >= cluster.commit_size or (pending.documents and block is None):
            done, rows = _commit(index, ledger, pending, cluster.commit_size)
            chunks, commits = chunks + rows, commits + 1
            progress = Progress(progress.done + done, progress.committed + done, progress.skipped, total,
                                time.perf_counter() - started)  # fmt: skip
            if on_progress is not None:
                on_progress(progress)
    if on_progress is not None and commits == 0:
        on_progress(progress)  # nothing to commit: every document was committed before
    return Added(progress.committed, progress.skipped, chunks, commits, time.perf_counter() - started, actors)


def encode_with_ray(
    source: str | Path,
    encoder: Encoder,
    fields: Fields,
    *,
    chunking: Mapping[str, Any] | None,
    cluster: Cluster | None = None,
) -> tuple[list[str], np.ndarray, int]:
    """Ids, float32 vectors (input order) and chunk count of the texts of ``source``, encoded by actors of ``encoder``.

    ``chunking`` holds ``max_tokens``, ``overlap``, ``aggregate`` and ``titles`` when texts are chunked.
    """
    cluster = cluster or Cluster()
    check_source(source)
    with connected(cluster) as actors:
        dataset, fields = read_dataset(source, fields)
        encoded = dataset.map_batches(
            FileWorker, fn_constructor_args=(model_spec(encoder.info.to_dict()), encoder.info.fingerprint,
                                             _settings(encoder), fields, chunking),
            **_pool(cluster, actors),
        )  # fmt: skip
        ids: list[str | None] = []
        vectors: list[np.ndarray] = []
        chunks = 0
        for block in _blocks(encoded, preserve_order=True):
            if block is None:
                break
            ids.extend(block.column("id").to_pylist())
            vectors.append(_vectors(block.column("vector")))
            chunks += int(np.sum(block.column("chunks").to_numpy()))
    if not ids:
        raise InputError(f"{source}: no texts to encode.")
    named = [str(position) if doc_id is None else doc_id for position, doc_id in enumerate(ids)]
    return named, np.concatenate(vectors), chunks


def _settings(encoder: Encoder) -> dict[str, Any]:
    return {name: getattr(encoder, name) for name in ENCODER_SETTINGS}


def _pool(cluster: Cluster, actors: int) -> dict[str, Any]:
    import ray.data

    gpus = {"num_gpus": cluster.gpus_per_actor} if cluster.gpus_per_actor else {}
    return {"compute": ray.data.ActorPoolStrategy(size=actors), "batch_size": cluster.batch_size,
            "batch_format": "pyarrow", "num_cpus": cluster.cpus_per_actor, **gpus}  # fmt: skip


def _blocks(dataset: Any, *, preserve_order: bool) -> Iterator[pa.Table | None]:
    """The dataset's output blocks, then ``None``; a failure inside Ray is raised as the embedlab error behind it."""
    from ray.data import DataContext

    context = DataContext.get_current()
    context.print_on_execution_start = False
    context.execution_options.preserve_order = preserve_order
    try:
        yield from dataset.iter_batches(batch_size=None, batch_format="pyarrow")
    except Exception as exc:
        cause = _embedlab_cause(exc)
        if cause is None:
            raise
        raise type(cause)(*cause.args) from None
    yield None


def _embedlab_cause(exc: BaseException | None) -> EmbedlabError | None:
    """The innermost embedlab error in ``exc``'s chain (Ray wraps an actor's exception in its own)."""
    found = None
    while exc is not None:
        if isinstance(exc, EmbedlabError):
            found = exc
        exc = exc.__cause__ or getattr(exc, "cause", None)
    return found


def _take(block: pa.Table | None, pending: _Pending, seen: set[str]) -> int:
    """Move a block's encoded documents into ``pending``; return how many it skipped as committed before."""
    if block is None:
        return 0
    ids = block.column("id").to_pylist()
    repeated = sorted(seen.intersection(ids))
    if repeated or len(set(ids)) < len(ids):
        raise InputError(f"Document ids must be unique in the input; repeated: {', '.join(repeated[:10]) or ids}.")
    seen.update(ids)
    hashes = block.column("hash").to_pylist()
    lists = block.column("chunks").combine_chunks()
    flat = lists.flatten()
    vectors = _vectors(flat.field("vector"))
    offsets = lists.offsets.to_numpy()
    columns = {name: flat.field(name).to_pylist() for name in ("chunk", "start", "end", "text")}
    for row, (document, digest) in enumerate(zip(block.column("document").to_pylist(), hashes, strict=True)):
        if digest is None:
            continue
        doc_index = len(pending.documents)
        pending.documents.append(json.loads(document))
        pending.hashes.append(digest)
        for k in range(offsets[row], offsets[row + 1]):
            pending.chunks.append(Chunk(doc_index, columns["chunk"][k], columns["start"][k], columns["end"][k],
                                        columns["text"][k], 0))  # fmt: skip
            pending.vectors.append(vectors[k])
    return hashes.count(None)


def _commit(index: Index, ledger: Ledger, pending: _Pending, size: int) -> tuple[int, int]:
    """Commit the first ``size`` pending documents to the index, then the ledger; return (documents, rows)."""
    head = [c for c in pending.chunks if c.doc_index < size]
    rows = index.commit_chunks(pending.documents[:size], ChunkEmbeddings(head, np.stack(pending.vectors[: len(head)])))
    ledger.record([str(document["id"]) for document in pending.documents[:size]], pending.hashes[:size])
    done = len(pending.documents[:size])
    rest = [Chunk(c.doc_index - size, c.chunk_index, c.start, c.end, c.text, 0) for c in pending.chunks[len(head) :]]
    pending.documents, pending.hashes = pending.documents[size:], pending.hashes[size:]
    pending.chunks, pending.vectors = rest, pending.vectors[len(head) :]
    return done, rows


def _vectors(column: Any) -> np.ndarray:
    """A fixed-size-list column of float32 as an ``(n, dim)`` array."""
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    width = array.type.list_size
    return np.asarray(array.flatten().to_numpy(zero_copy_only=False), np.float32).reshape(-1, width)
