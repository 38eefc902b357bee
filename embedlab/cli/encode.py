"""``embedlab encode``, ``similarity``, ``check`` and ``cache``: vectors from texts, and their quality.

Example:
    $ embedlab encode corpus.jsonl --text-field text --id-field _id -o corpus.parquet
    $ embedlab similarity "The weather is lovely today." "It's so sunny outside!"
    $ embedlab check corpus.parquet
    $ embedlab cache info
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from embedlab.cli.common import JsonOption, ModelOption, console, err, print_json, warn
from embedlab.cli.engine import ActorsOption, AddressOption, EngineOption, cluster
from embedlab.cli.remote import DryRunOption, PriceOption, print_estimate
from embedlab.encode.documents import Aggregation
from embedlab.encode.encoder import Precision
from embedlab.encode.text import EmptyPolicy
from embedlab.errors import EmbedlabError, TruncationWarning

cache_app = typer.Typer(help="Inspect or clear the embedding cache.", no_args_is_help=True)
CachePath = Annotated[Path | None, typer.Option(help="Cache file.")]


def register(app: typer.Typer) -> None:
    """Add ``encode``, ``similarity``, ``check`` and ``cache`` to the main app."""
    app.command()(encode)
    app.command()(similarity)
    app.command()(check)
    app.add_typer(cache_app, name="cache")


def encode(
    input: Annotated[Path, typer.Argument(help="Texts: .txt (a line each), .jsonl, .csv, .tsv, .parquet or .lance.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write: .parquet or .npy (default INPUT.embeddings.parquet)."),
    ] = None,
    model: ModelOption = None,
    text_field: Annotated[str | None, typer.Option(help="Field holding the text (default: text).")] = None,
    id_field: Annotated[str | None, typer.Option(help="Field holding the id (default: id or _id, else row).")] = None,
    title_field: Annotated[str | None, typer.Option(help="Field holding a title, put before each chunk.")] = None,
    precision: Annotated[Precision, typer.Option(help="Output precision.")] = "float32",
    batch_size: Annotated[int, typer.Option(help="Texts per forward pass.")] = 32,
    normalize: Annotated[bool, typer.Option(help="L2-normalise the vectors.")] = True,
    chunk: Annotated[bool, typer.Option(help="Chunk long texts by tokens and aggregate to one vector each.")] = False,
    max_tokens: Annotated[int | None, typer.Option(help="Tokens per chunk (default: the model's limit).")] = None,
    overlap: Annotated[int, typer.Option(help="Tokens shared by neighbouring chunks.")] = 32,
    aggregate: Annotated[Aggregation, typer.Option(help="How chunk vectors make a document vector.")] = "mean",
    empty: Annotated[EmptyPolicy, typer.Option(help="Empty texts: refuse them, or give an all-zero vector.")] = "error",
    cache: Annotated[bool, typer.Option(help="Use the persistent embedding cache.")] = True,
    cache_path: Annotated[Path | None, typer.Option(help="Cache file (default: ~/.cache/embedlab/...).")] = None,
    dry_run: DryRunOption = False,
    price_per_million: PriceOption = None,
    engine: EngineOption = "local",
    address: AddressOption = None,
    actors: ActorsOption = None,
) -> None:
    """Encode a file of texts and write the vectors with their ids and the model's fingerprint."""
    from embedlab.encode import EmbeddingCache, Encoder
    from embedlab.encode.files import encode_file

    if dry_run:
        from embedlab.encode.text import with_title
        from embedlab.io import read_texts

        records = read_texts(input, text_field=text_field, id_field=id_field, title_field=title_field)
        titles = records.titles or [None] * len(records.texts)
        texts = [with_title(title, text) for title, text in zip(titles, records.texts, strict=True)]
        print_estimate(model, texts, cache_path=cache_path, cache=cache, price=price_per_million)
        return

    def make_encoder() -> Encoder:
        return Encoder(model, cache=EmbeddingCache(cache_path) if cache else None, batch_size=batch_size,
                       normalize=normalize, on_empty=empty, show_progress=True)  # fmt: skip

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncationWarning)
        written = encode_file(input, output, encoder=make_encoder, text_field=text_field, id_field=id_field,
                              title_field=title_field, precision=precision, chunk=chunk, max_tokens=max_tokens,
                              overlap=overlap, aggregate=aggregate, engine=engine,
                              cluster=cluster(address, actors) if engine == "ray" else None)  # fmt: skip
    if written.skipped_blank_lines:
        err.print(f"skipped {written.skipped_blank_lines} blank lines")
    for warning in caught:
        warn(str(warning.message))
    detail = f" ({written.chunks} chunks)" if written.chunks is not None else ""
    console.print(
        f"encoded {written.texts} texts{detail} with {written.model.name} [{written.model.short_fingerprint}] in "
        f"{written.seconds:.1f}s; cache hits {written.stats.cache_hits}/{written.stats.texts}; "
        f"wrote {written.shape} {written.dtype} to {written.output}",
        markup=False,
        soft_wrap=True,
    )


def similarity(
    texts: Annotated[list[str], typer.Argument(help="Two or more texts.")],
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the cosine similarity of every pair of texts."""
    from embedlab.encode import Encoder

    if len(texts) < 2:
        raise EmbedlabError("Give at least two texts to compare.")
    encoder = Encoder(model, normalize=True)
    vectors = encoder.encode(texts)
    matrix = (vectors @ vectors.T).round(4)
    if as_json:
        print_json({"texts": texts, "similarity": matrix.tolist()})
        return
    table = Table(title=f"cosine similarity ({encoder.info.name})")
    table.add_column("")
    for index in range(len(texts)):
        table.add_column(str(index + 1), justify="right")
    for index, text in enumerate(texts):
        table.add_row(f"{index + 1}. {text[:60]}", *(f"{value:.4f}" for value in matrix[index]))
    console.print(table)


def check(
    embeddings: Annotated[Path, typer.Argument(help="An embeddings file written by `embedlab encode`.")],
    texts: Annotated[Path | None, typer.Option(help="The texts file, to tell duplicate texts apart.")] = None,
    text_field: Annotated[str | None, typer.Option(help="Field holding the text in --texts.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Check embeddings for NaN/Inf, norms, dead dimensions, duplicates and collapse. Exit 1 on errors."""
    from embedlab.check import check_file

    report = check_file(embeddings, texts=texts, text_field=text_field)
    if as_json:
        print_json(report.to_dict())
    else:
        table = Table(title=f"quality of {embeddings} ({report.count} x {report.dimension})", show_header=False)
        for key, value in report.to_dict().items():
            if key != "findings":
                table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
        console.print(table)
        colours = {"error": "red", "warning": "yellow", "info": "cyan"}
        for finding in report.findings:
            console.print(f"[{colours[finding.level]}]{finding.level}[/] {finding.code}: {finding.message}")
        if not report.findings:
            console.print("[green]no findings[/]")
    if not report.ok:
        raise typer.Exit(1)


@cache_app.command("info")
def cache_info(path: CachePath = None, as_json: JsonOption = False) -> None:
    """Show where the cache is and how much it holds."""
    from embedlab.encode import EmbeddingCache

    stats = EmbeddingCache(path).stats()
    if as_json:
        print_json(stats.__dict__)
    else:
        console.print(
            f"{stats.path}: {stats.entries} vectors of {stats.models} models, {stats.size_bytes / 1e6:.1f} MB"
        )


@cache_app.command("clear")
def cache_clear(
    path: CachePath = None,
    model: Annotated[
        str | None, typer.Option(help="Only this model's entries: its fingerprint, or the first 8+ hex digits.")
    ] = None,
) -> None:
    """Delete cached vectors (all, or one model's)."""
    from embedlab.encode import EmbeddingCache

    console.print(f"deleted {EmbeddingCache(path).clear(model)} vectors")
