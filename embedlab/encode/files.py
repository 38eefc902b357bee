"""Encode a file of texts into an embeddings file: what ``embedlab encode`` does.

Example:
    >>> written = encode_file("docs.jsonl", "docs.parquet", id_field="_id")  # doctest: +SKIP
    >>> written.shape, written.stats.cache_hits  # doctest: +SKIP
    ((2, 384), 0)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from embedlab.encode.documents import Aggregation
from embedlab.encode.encoder import PRECISIONS, Encoder, EncodeStats, Precision, quantize
from embedlab.errors import InputError
from embedlab.io import read_texts, writable_path, write_embeddings
from embedlab.models import ModelInfo

if TYPE_CHECKING:
    from embedlab.scale import Cluster

Engine = Literal["local", "ray"]


@dataclass(frozen=True)
class EncodedFile:
    """What :func:`encode_file` wrote, and how it went."""

    output: Path
    texts: int
    chunks: int | None  # None: one vector per text, no chunking
    shape: tuple[int, ...]
    dtype: str
    model: ModelInfo
    seconds: float
    stats: EncodeStats  # the encoder's running totals once the file is encoded
    skipped_blank_lines: int


def encode_file(
    source: str | Path,
    output: str | Path | None = None,
    *,
    encoder: Encoder | Callable[[], Encoder] = Encoder,
    text_field: str | None = None,
    id_field: str | None = None,
    title_field: str | None = None,
    precision: Precision = "float32",
    chunk: bool = False,
    max_tokens: int | None = None,
    overlap: int = 32,
    aggregate: Aggregation = "mean",
    engine: Engine = "local",
    cluster: Cluster | None = None,
) -> EncodedFile:
    """Encode the texts of ``source`` and write them with their ids and the model's fingerprint to ``output``.

    Args:
        source: texts, as :func:`~embedlab.io.read_texts` reads them (.txt, .jsonl, .csv, .tsv, .parquet).
        output: a .parquet or .npy file (default: ``SOURCE.embeddings.parquet`` beside it); never the source.
        encoder: the encoder, or what makes it (called once the output is checked and the texts are read,
            so that a mistake there costs no model load).
        text_field: the field holding the text; ``id_field`` and ``title_field`` as in ``read_texts``.
        id_field: the field holding the id (default: id or _id, else the row).
        title_field: a field holding a title; with one, texts are encoded as titled documents (chunked).
        precision: the stored precision.
        chunk: chunk long texts by tokens (``max_tokens``, ``overlap``) and ``aggregate`` the chunk vectors.
        max_tokens: tokens per chunk (default: the model's limit).
        overlap: tokens shared by neighbouring chunks.
        aggregate: how chunk vectors make a text's vector.
        engine: ``"ray"`` encodes in an actor pool on Ray (:mod:`embedlab.scale`, ``cluster`` says where):
            .jsonl, .csv, .tsv and .parquet inputs, the same vectors as ``"local"``.
        cluster: the Ray cluster and actors (default: a local Ray, one actor per CPU).

    Raises:
        InputError: the output is the source, a folder or of an unknown format; the file holds no texts
            (or cannot be read); an unknown engine.
        MissingExtraError: ``engine="ray"`` without Ray installed.
    """
    if engine not in ("local", "ray"):
        raise InputError(f"engine must be 'local' or 'ray', got {engine!r}.")
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}.")
    source = Path(source)
    target = writable_path(output or source.with_name(source.stem + ".embeddings.parquet"))
    if target.resolve() == source.resolve():
        raise InputError(f"The output {target} is the input file: choose another --output.")
    chunked = chunk or title_field is not None
    if engine == "ray":
        from embedlab.scale import encode_with_ray
        from embedlab.scale.read import Fields

        encoder = encoder if isinstance(encoder, Encoder) else encoder()
        started = time.perf_counter()
        chunking = {"max_tokens": max_tokens, "overlap": overlap, "aggregate": aggregate} if chunked else None
        ids, floats, chunk_count = encode_with_ray(source, encoder, Fields(text_field or "text", id_field, title_field),
                                                   chunking=chunking, cluster=cluster)  # fmt: skip
        vectors, chunks, skipped = quantize(floats, precision, encoder.ranges_for(precision)), None, 0
        if chunked:
            chunks = chunk_count
    else:
        records = read_texts(source, text_field=text_field, id_field=id_field, title_field=title_field)
        if not records.texts:
            raise InputError(f"{source}: no texts to encode.")
        encoder = encoder if isinstance(encoder, Encoder) else encoder()
        started = time.perf_counter()
        ids, chunks, skipped = records.ids, None, records.skipped_blank_lines
        if chunked:
            documents = encoder.encode_documents(records.texts, titles=records.titles, max_tokens=max_tokens,
                                                 overlap=overlap, aggregate=aggregate, precision=precision)  # fmt: skip
            vectors, chunks = documents.vectors, len(documents.chunks)
        else:
            vectors = encoder.encode(records.texts, precision=precision)
    seconds = time.perf_counter() - started
    write_embeddings(target, ids, vectors, info=encoder.info, precision=precision)
    return EncodedFile(output=target, texts=len(ids), chunks=chunks, shape=vectors.shape,
                       dtype=str(vectors.dtype), model=encoder.info, seconds=seconds,
                       stats=replace(encoder.stats), skipped_blank_lines=skipped)  # fmt: skip
