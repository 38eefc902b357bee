"""``embedlab index``: build, update, search and inspect a LanceDB index of one model.

The options of ``index search`` come from :class:`~embedlab.index.options.SearchOptions`, the definition
:meth:`~embedlab.index.Index.search` and the server's ``/v1/search`` use too: a new search option reaches
the command line without an edit here.

Example:
    $ embedlab index build my-index -i docs.jsonl --metadata-field lang
    $ embedlab index search my-index "how do I reset my password" --mode hybrid --filter "lang = 'en'"
    $ embedlab index add my-index -i more.jsonl
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.markup import escape
from rich.table import Table

from embedlab.cli.common import JsonOption, ModelOption, console, options_from, print_json
from embedlab.cli.engine import ActorsOption, AddressOption, EngineOption, cluster, progress_bar
from embedlab.cli.remote import DryRunOption, PriceOption, print_estimate
from embedlab.errors import InputError
from embedlab.index.options import CALIBRATED, option_fields

if TYPE_CHECKING:
    from embedlab.index.compact import Precision

index_app = typer.Typer(help="Build, update and search a LanceDB index of one model.", no_args_is_help=True)

IndexDir = Annotated[Path, typer.Argument(help="The index folder.")]
InputFile = Annotated[Path, typer.Option("--input", "-i", help="Documents: .jsonl .csv .tsv .parquet .lance .txt")]
TextField = Annotated[str | None, typer.Option(help="Text field (default: text).")]
IdField = Annotated[str | None, typer.Option(help="Id field (default: id or _id).")]
QueryModel = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="What encodes the queries: the index's model (default) or a variant of it (optimize)."
    ),
]
MetadataOption = Annotated[
    list[str] | None,
    typer.Option(
        "--metadata-field", help="A field to store and filter on, NAME or NAME:TYPE (string, int, float, bool)."
    ),
]


def register(app: typer.Typer) -> None:
    """Add ``index`` to the main app."""
    app.add_typer(index_app, name="index")


@index_app.command("build")
def index_build(
    path: IndexDir,
    input: InputFile,
    model: ModelOption = None,
    text_field: TextField = None,
    id_field: IdField = None,
    title_field: Annotated[str | None, typer.Option(help="Title field, put before each chunk.")] = None,
    metadata_field: MetadataOption = None,
    chunk: Annotated[bool, typer.Option(help="Chunk long documents (else one truncated vector each).")] = True,
    chunk_tokens: Annotated[int | None, typer.Option(help="Tokens per chunk (default: the model's limit).")] = None,
    dry_run: DryRunOption = False,
    price_per_million: PriceOption = None,
    engine: EngineOption = "local",
    address: AddressOption = None,
    actors: ActorsOption = None,
    precision: Annotated[
        str, typer.Option(help="Search vectors in memory: float32, float16, int8 or binary (re-scored with float32).")
    ] = "float32",
    dims: Annotated[int | None, typer.Option(help="Keep the first DIMS dimensions (Matryoshka truncation).")] = None,
) -> None:
    """Create an index for a model and add the documents of a file (with --engine ray: resume with index add)."""
    from embedlab.encode.text import with_title
    from embedlab.index import Index
    from embedlab.index.documents import metadata_types, read_documents

    fields = metadata_types(metadata_field or [])
    if engine == "ray" and not dry_run:
        index = Index.create(path, model, metadata_fields=fields, chunk=chunk, chunk_tokens=chunk_tokens,
                             precision=cast("Precision", precision), dims=dims)  # fmt: skip
        _add_with_ray(index, input, text_field, id_field, title_field, address, actors)
        return
    documents = read_documents(
        input, text_field=text_field, id_field=id_field, title_field=title_field, metadata_fields=list(fields)
    )
    if dry_run:
        texts = [with_title(document.get("title"), document["text"]) for document in documents]
        print_estimate(model, texts, cache_path=None, cache=False, price=price_per_million)
        return
    index = Index.build(path, documents, model, metadata_fields=fields, chunk=chunk, chunk_tokens=chunk_tokens,
                        precision=precision, dims=dims)  # fmt: skip
    info = index.info()
    console.print(f"{path}: {info['documents']} documents, {info['chunks']} chunks, model {index.encoder.info.name} "
                  f"[{index.encoder.info.short_fingerprint}]")  # fmt: skip


@index_app.command("add")
def index_add(
    path: IndexDir,
    input: InputFile,
    model: ModelOption = None,
    text_field: TextField = None,
    id_field: IdField = None,
    title_field: Annotated[str | None, typer.Option(help="Title field.")] = None,
    engine: EngineOption = "local",
    address: AddressOption = None,
    actors: ActorsOption = None,
) -> None:
    """Add documents to an index; documents with an existing id replace the old version.

    With --engine ray, documents already committed with the same content are skipped: a re-run resumes.
    """
    from embedlab.index import Index
    from embedlab.index.documents import read_documents

    index = Index.open(path, model)
    if engine == "ray":
        _add_with_ray(index, input, text_field, id_field, title_field, address, actors)
        return
    documents = read_documents(input, text_field=text_field, id_field=id_field, title_field=title_field,
                               metadata_fields=index.settings["metadata_fields"])  # fmt: skip
    rows = index.add(documents)
    console.print(f"{path}: added or replaced {len(documents)} documents ({rows} chunks); now {len(index)}")


@index_app.command("delete")
def index_delete(path: IndexDir, ids: Annotated[list[str], typer.Argument(help="Document ids.")]) -> None:
    """Delete documents by id."""
    from embedlab.index import Index

    index = Index.open(path)
    removed = index.delete(ids)
    console.print(f"{path}: removed {removed} chunks; {len(index)} documents left")


@index_app.command("search")
@options_from(option_fields(), types={"rerank": str | None, "min_score": str | None})
def index_search(
    path: IndexDir,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", help="How many documents.")] = 10,
    *,
    model: QueryModel = None,
    as_json: JsonOption = False,
    **options: Any,
) -> None:
    """Search an index, optionally reranking the first results with a cross-encoder."""
    from embedlab.index import Index

    options["min_score"] = _score_floor(options["min_score"])
    hits = Index.open(path, model).search(query, k, **options)
    if as_json:
        print_json([hit.__dict__ for hit in hits])
        return
    table = Table("doc", "score", "components", "text")
    for hit in hits:
        parts = ", ".join(f"{name} {value:.3f}" for name, value in hit.components.items())
        table.add_row(hit.doc_id, f"{hit.score:.4f}", parts, escape(hit.text[:100]))
    console.print(table)


@index_app.command("tune-expansion")
def index_tune_expansion(
    path: IndexDir,
    benchmark: Annotated[Path, typer.Option(help="A BEIR folder whose corpus the index holds.")],
    split: Annotated[str, typer.Option(help="Benchmark split to measure on.")] = "test",
    mode: Annotated[list[str] | None, typer.Option(help="Modes to tune (repeat; default: bm25 and hybrid).")] = None,
    apply: Annotated[bool, typer.Option(help="Record the verdict in the index (--no-apply: only measure).")] = True,
    as_json: JsonOption = False,
) -> None:
    """Measure BM25 and hybrid search with and without query expansion; expand by default only where it helps."""
    from embedlab.evaluate.data import load_beir
    from embedlab.index import Index
    from embedlab.operate.expansion import MODES, tune_expansion

    index = Index.open(path)
    decision = tune_expansion(index, load_beir(benchmark, split=split), modes=mode or MODES, apply=apply)
    if as_json:
        print_json(decision.to_dict())
        return
    table = Table("mode", "without (95% CI)", "expanded (95% CI)", "difference", "p", "verdict", "ms/query",
                  title=f"{path}: {decision.metric} on {decision.queries} queries")  # fmt: skip
    for trial in decision.trials:
        table.add_row(trial.mode, str(trial.without), str(trial.expanded), f"{trial.test.difference.value:+.4f}",
                      f"{trial.test.p_value:.4f}", trial.test.verdict,
                      "{:.1f} -> {:.1f}".format(*trial.ms_per_query))  # fmt: skip
    console.print(table)
    for trial in decision.trials:
        reason = "significantly better" if trial.helps else f"{trial.test.verdict}, p = {trial.test.p_value:.4f}"
        state = "on" if trial.helps else "off"
        done = f"is now {state}" if apply else f"would be {state} (not recorded: --no-apply)"
        console.print(f"{trial.mode}: query expansion by default {done}: {reason}")


@index_app.command("info")
def index_info(path: IndexDir, model: QueryModel = None) -> None:
    """Show an index's model, settings and size, and what would encode its queries."""
    from embedlab.index import Index

    print_json(Index.open(path, model).info())


def _score_floor(text: str | None) -> float | str | None:
    """``--min-score``: a number, or ``calibrated`` (the index's threshold)."""
    if text is None or text == CALIBRATED:
        return text
    try:
        return float(text)
    except ValueError:
        raise InputError(f"--min-score must be a number or {CALIBRATED!r}; got {text!r}.") from None


def _add_with_ray(
    index: Any, input: Path, text_field: str | None, id_field: str | None, title_field: str | None,
    address: str | None, actors: int | None,
) -> None:  # fmt: skip
    from embedlab.scale import add_with_ray

    with progress_bar() as show:
        added = add_with_ray(index, input, text_field=text_field, id_field=id_field, title_field=title_field,
                             cluster=cluster(address, actors), on_progress=show)  # fmt: skip
    console.print(f"{index.path}: added or replaced {added.documents} documents ({added.chunks} chunks) with "
                  f"{added.actors} Ray actors in {added.seconds:.1f}s, {added.documents / added.seconds:.1f} "
                  f"documents/s; skipped {added.skipped} already committed; now {len(index)}")  # fmt: skip
