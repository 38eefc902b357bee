"""Model migration: plan and build a new index for a new model from the texts an existing index stores.

- :func:`stored_documents` reads back an index's documents (id, title, text, metadata) from its chunk
  rows: no source files are needed. A chunked document is put together from its chunks' character
  offsets (whitespace between two chunks reads back as one space; that changes no token).
- :func:`plan` counts documents and tokens (the new model's tokenizer), times the re-embedding of a
  sample on this machine and estimates the time and the disk the new index needs.
- :func:`build` makes the new index beside the old one, in batches of whole documents, each one
  LanceDB commit, in this process or on Ray (``engine="ray"``: the texts go to an actor pool through
  :func:`embedlab.scale.add_documents_with_ray`). A killed build loses nothing: run it again and it skips the
  documents already embedded from their current content (by id and content hash, in the ledger of
  :mod:`embedlab.scale.ledger`). ``migration.json`` in the new folder says ``building`` until every
  document of the old index is in, then ``complete``; :func:`check_complete` refuses a half-built index
  (promotion calls it).

Example:
    >>> # not run: needs two models and an index
    >>> plan("docs-v1", "models/adapted").seconds  # doctest: +SKIP
    >>> build("docs-v1", "models/adapted", "docs-v2", progress=print)  # doctest: +SKIP
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedlab.atomic import write_json
from embedlab.encode import Encoder
from embedlab.encode.files import Engine
from embedlab.encode.text import token_counts, with_title
from embedlab.errors import InputError
from embedlab.index.rows import Rows, sql_list
from embedlab.index.settings import read_settings
from embedlab.models import EmbeddingModel, load_model
from embedlab.operate.aliases import resolve
from embedlab.scale.ledger import Ledger, content_hash

if TYPE_CHECKING:
    from embedlab.index import Index
    from embedlab.scale import Cluster

MARKER = "migration.json"
Progress = Callable[[int, int], None]


def stored_documents(folder: str | Path, ids: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """The documents an index stores (``id``, ``text``, ``title`` when set, metadata), in id order.

    ``ids``: only these (default: every document).
    """
    for documents in stored_batches(folder, ids):
        yield from documents


def stored_batches(
    folder: str | Path, ids: list[str] | None = None, *, batch: int = 256
) -> Iterator[list[dict[str, Any]]]:
    """:func:`stored_documents` in lists of (at most) ``batch`` documents, one read each."""
    settings = read_settings(Path(folder))
    rows = Rows(Path(folder), settings)
    fields = list(settings["metadata_fields"])
    wanted = document_ids(folder) if ids is None else ids
    columns = ["doc_id", "chunk", "start", "end", "title", "text", *fields]
    table = rows.table()
    for first in range(0, len(wanted), batch):
        chosen = wanted[first : first + batch]
        where = f"doc_id IN ({sql_list(chosen)})"
        data = rows.query(lambda w: table.search().select(columns).where(w).limit(None), where).to_pylist()
        chunks: dict[str, list[dict[str, Any]]] = {}
        for row in data:
            chunks.setdefault(row["doc_id"], []).append(row)
        found = [_document(chunks[doc_id], fields) for doc_id in chosen if doc_id in chunks]
        if found:
            yield found


def source_hashes(folder: str | Path) -> dict[str, str]:
    """``{doc_id: content hash}`` of every stored document of the index at ``folder`` (what a build embeds)."""
    return {str(document["id"]): content_hash(document) for documents in stored_batches(folder, batch=1024)
            for document in documents}  # fmt: skip


def document_ids(folder: str | Path) -> list[str]:
    """The ids of an index's documents, sorted."""
    settings = read_settings(Path(folder))
    rows = Rows(Path(folder), settings)
    table = rows.table()
    if table is None:
        return []
    data = rows.query(lambda w: table.search().select(["doc_id"]).where(w).limit(None), "chunk = 0")
    return sorted(data.column("doc_id").to_pylist())


def _document(chunks: list[dict[str, Any]], fields: list[str]) -> dict[str, Any]:
    """One document from its chunk rows: the chunks laid at their offsets (gaps read back as spaces)."""
    chunks.sort(key=lambda row: row["chunk"])
    buffer = [" "] * max(row["end"] for row in chunks)
    for row in chunks:
        buffer[row["start"] : row["end"]] = row["text"]
    first = chunks[0]
    document = {"id": first["doc_id"], "text": "".join(buffer).strip()}
    if first["title"]:
        document["title"] = first["title"]
    return {**document, **{name: first[name] for name in fields if first[name] is not None}}


@dataclass(frozen=True)
class Plan:
    """What a migration to ``model`` costs, measured on a sample of ``sample`` documents on this machine."""

    source: str
    model: str
    documents: int
    chunks: int
    tokens: int
    sample: int
    sample_seconds: float
    docs_per_s: float
    seconds: float
    chunks_estimate: int
    disk_bytes: int
    free_bytes: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def plan(source: str | Path, model: EmbeddingModel | Encoder | str | Path | None, *, sample: int = 64,
         seed: int = 0, chunk_tokens: int | None = None) -> Plan:  # fmt: skip
    """Documents, chunks and tokens of the index (or alias) ``source``, and the time and disk to re-embed it.

    The time is measured: ``sample`` documents (seeded) are chunked and encoded with the new model after a
    warm-up, and the rate is extrapolated to every document. Disk: the old index's size, its vectors
    replaced by the new model's (of the new dimension, as many chunks per document as in the sample).
    """
    folder = resolve(source)
    settings = read_settings(folder)
    encoder = _encoder(model)
    ids = document_ids(folder)
    if not ids:
        raise InputError(f"The index {folder} holds no documents: there is nothing to migrate.")
    documents = list(stored_documents(folder))
    tokens = sum(token_counts(encoder.model.st.tokenizer, [with_title(d.get("title"), d["text"]) for d in documents]))
    chosen = random.Random(seed).sample(documents, min(sample, len(documents)))
    _embed(encoder, settings, chosen[:2], chunk_tokens)  # warm-up: the first call pays for lazy set-up
    started = time.perf_counter()
    new_chunks = _embed(encoder, settings, chosen, chunk_tokens)
    seconds = time.perf_counter() - started
    old_chunks = Rows(folder, settings).count()
    chunks_estimate = round(new_chunks / len(chosen) * len(ids))
    size = sum(entry.stat().st_size for entry in folder.rglob("*") if entry.is_file())
    old_vectors = old_chunks * settings["model"]["dimension"] * 4
    disk = max(size - old_vectors, 0) + chunks_estimate * encoder.info.dimension * 4
    target = folder.parent
    return Plan(
        source=str(folder), model=encoder.info.name, documents=len(ids), chunks=old_chunks, tokens=tokens,
        sample=len(chosen), sample_seconds=seconds, docs_per_s=len(chosen) / max(seconds, 1e-9),
        seconds=seconds / len(chosen) * len(ids), chunks_estimate=chunks_estimate, disk_bytes=disk,
        free_bytes=shutil.disk_usage(target).free,
    )  # fmt: skip


def _embed(
    encoder: Encoder, settings: dict[str, Any], documents: list[dict[str, Any]], chunk_tokens: int | None
) -> int:
    """Encode ``documents`` as the new index would; return the number of vectors."""
    texts, titles = [d["text"] for d in documents], [d.get("title") for d in documents]
    if not settings.get("chunk", True):
        return len(encoder.encode([with_title(t, x) for t, x in zip(titles, texts, strict=True)]))
    tokens = chunk_tokens if chunk_tokens is not None else settings.get("chunk_tokens")
    return len(encoder.encode_chunks(texts, titles=titles, max_tokens=tokens, overlap=settings["overlap"]).chunks)


@dataclass(frozen=True)
class BuildResult:
    """A finished build: the new folder, its documents, and what this run embedded (the rest was there)."""

    path: Path
    documents: int
    embedded: int
    seconds: float


def build(
    source: str | Path,
    model: EmbeddingModel | Encoder | str | Path | None,
    out: str | Path,
    *,
    batch: int = 64,
    chunk_tokens: int | None = None,
    progress: Progress | None = None,
    engine: Engine = "local",
    cluster: Cluster | None = None,
) -> BuildResult:
    """Re-embed every document of ``source`` (an index or an alias) with ``model`` into a new index at ``out``.

    Chunking, metadata fields and the accelerator's settings are the old index's (``chunk_tokens``
    overrides the chunk size). ``out`` may hold a build of the same source and model that was stopped:
    it is resumed. ``progress(done, total)`` is called after each commit. ``batch`` documents make a commit;
    with ``engine="ray"`` the actor pool of ``cluster`` (default: a local Ray) encodes, and a commit holds
    ``cluster.commit_size`` documents. A Ray build stopped half-way is resumed by either engine.

    Raises:
        InputError: ``out`` holds another index, or a build from another source or with another model; an
            unknown engine.
        MissingExtraError: ``engine="ray"`` without Ray installed.
    """
    from embedlab.index import Index

    if engine not in ("local", "ray"):
        raise InputError(f"engine must be 'local' or 'ray', got {engine!r}.")
    if engine == "ray":
        from embedlab.extras import require
        from embedlab.scale import Cluster

        require("ray")  # before any work: the new index is not made without the engine that fills it
        cluster = cluster or Cluster()
    folder = resolve(source)
    settings = read_settings(folder)
    encoder = _encoder(model)
    target = Path(out)
    marker = target / MARKER
    started = time.perf_counter()
    if marker.is_file():
        _check_same_build(read_marker(target), folder, encoder)
        index = Index.open(target, encoder)
    elif _abandoned(target, encoder):  # killed between creating the index and marking it
        index = Index.open(target, encoder)
    else:
        index = Index.create(target, encoder, metadata_fields=settings["metadata_fields"],
                             chunk=settings.get("chunk", True),
                             chunk_tokens=chunk_tokens if chunk_tokens is not None else settings.get("chunk_tokens"),
                             overlap=settings["overlap"], ann=settings.get("ann", {}).get("mode", "auto"))  # fmt: skip
    record = {"kind": "embedlab-migration", "source": str(folder), "source_model": settings["model"],
              "model": encoder.info.to_dict(), "status": "building",
              "started": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
    if marker.is_file():
        record = {**read_marker(target), "status": "building"}
    write_json(marker, record)
    embedded = 0
    ledger = Ledger(target, encoder.info.fingerprint)  # what was embedded from which content (as the Ray engine)
    for _ in range(3):  # documents added or replaced in the old index during the build: another round
        wanted, present = source_hashes(folder), set(document_ids(target))
        committed = ledger.committed()
        missing = [doc_id for doc_id, digest in wanted.items() if committed.get(doc_id) != digest]
        stale = sorted(present - set(wanted))
        if stale:
            index.delete(stale)
        if not missing:
            break
        embedded += _fill(index, ledger, folder, missing, len(wanted), batch, progress,
                          cluster if engine == "ray" else None)  # fmt: skip
    final = document_ids(target)
    if final != document_ids(folder) or ledger.committed() != source_hashes(folder):
        raise InputError(f"The old index {folder} kept changing during the build; run the build again to finish.")
    seconds = time.perf_counter() - started
    write_json(marker, {**record, "status": "complete", "documents": len(final),
                        "finished": datetime.now(UTC).isoformat(timespec="seconds")})  # fmt: skip
    return BuildResult(target, len(final), embedded, seconds)


def _fill(index: Index, ledger: Ledger, folder: Path, missing: list[str], total: int, batch: int,
          progress: Progress | None, cluster: Cluster | None) -> int:  # fmt: skip
    """Add the documents ``missing`` from the old index at ``folder`` to ``index``, recorded in ``ledger``.

    With a ``cluster`` they go through the Ray pipeline, which records its own commits.
    """
    done = total - len(missing)
    if cluster is not None:
        from embedlab.scale import add_documents_with_ray

        batches = stored_batches(folder, missing, batch=cluster.commit_size)
        report = None if progress is None else lambda p: progress(done + p.done, total)
        return add_documents_with_ray(index, batches, cluster=cluster, on_progress=report).documents
    embedded = 0
    for documents in stored_batches(folder, missing, batch=batch):
        index.add(documents)
        ledger.record([document["id"] for document in documents], [content_hash(d) for d in documents])
        embedded += len(documents)
        if progress:
            progress(done + embedded, total)
    return embedded


def read_marker(folder: str | Path) -> dict[str, Any]:
    """The ``migration.json`` of a built (or building) index; ``{}`` for an index not made by :func:`build`."""
    import json

    path = Path(folder) / MARKER
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is unreadable ({exc}); run the build again.") from exc
    return data if isinstance(data, dict) else {}


def check_complete(folder: str | Path) -> None:
    """Refuse an index whose migration build has not finished.

    Raises:
        InputError: no index at ``folder``, or its ``migration.json`` does not say ``complete``.
    """
    read_settings(Path(folder))
    record = read_marker(folder)
    if record and record.get("status") != "complete":
        raise InputError(
            f"{folder} is a half-built index (migration.json says {record.get('status')!r}): finish it with "
            f"'embedlab migrate build {record.get('source')} --out {folder}' before promoting it."
        )


def _abandoned(target: Path, encoder: Encoder) -> bool:
    """Whether ``target`` is an empty index of ``encoder``'s model without a marker (a build killed at its start)."""
    if (target / MARKER).is_file() or not (target / "index.json").is_file():
        return False
    return read_settings(target)["model"]["fingerprint"] == encoder.info.fingerprint and not document_ids(target)


def _check_same_build(record: dict[str, Any], source: Path, encoder: Encoder) -> None:
    if record.get("source") != str(source) or record.get("model", {}).get("fingerprint") != encoder.info.fingerprint:
        raise InputError(
            f"The folder holds a build from {record.get('source')} with {record.get('model', {}).get('name')}, not "
            f"from {source} with {encoder.info.name}: choose another --out."
        )


def _encoder(model: EmbeddingModel | Encoder | str | Path | None) -> Encoder:
    if isinstance(model, Encoder):
        return model
    return Encoder(model if isinstance(model, EmbeddingModel) else load_model(model), show_progress=False)
