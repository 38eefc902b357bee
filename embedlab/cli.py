"""The ``embedlab`` command line: a thin layer over the Python API.

Example:
    $ embedlab encode corpus.jsonl --text-field text --id-field _id -o corpus.parquet
    $ embedlab similarity "The weather is lovely today." "It's so sunny outside!"
    $ embedlab models show
    $ embedlab check corpus.parquet
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from embedlab import __version__
from embedlab.cli_adapt import register as register_adapt
from embedlab.cli_optimize import register as register_optimize
from embedlab.cli_packs import register as register_packs
from embedlab.encode.documents import Aggregation
from embedlab.encode.encoder import Precision
from embedlab.encode.text import EmptyPolicy
from embedlab.errors import EmbedlabError, TruncationWarning
from embedlab.index.options import Fusion, Mode, RerankFusion

if TYPE_CHECKING:
    from embedlab.bias import BiasAudit

app = typer.Typer(
    help="embedlab: local-first custom text embeddings. Every command works offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="List, inspect and install embedding models.", no_args_is_help=True)
cache_app = typer.Typer(help="Inspect or clear the embedding cache.", no_args_is_help=True)
benchmark_app = typer.Typer(help="Build benchmarks from your own data.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(cache_app, name="cache")
index_app = typer.Typer(help="Build, update and search a LanceDB index of one model.", no_args_is_help=True)
app.add_typer(index_app, name="index")
bias_app = typer.Typer(help="Measure bias in a model and remove a bias direction.", no_args_is_help=True)
app.add_typer(benchmark_app, name="benchmark")
app.add_typer(bias_app, name="bias")
register_adapt(app)
register_optimize(app)
register_packs(models_app)

SetsOption = Annotated[
    Path | None, typer.Option(help="Folder of association tests (sent-bias JSON: targ1, targ2, attr1, attr2).")
]
TestsOption = Annotated[str | None, typer.Option(help="Comma-separated test names in --sets (default: all).")]
PairsOption = Annotated[Path | None, typer.Option(help="Definitional pairs, a JSON list of [word, word].")]
WordsOption = Annotated[
    Path | None, typer.Option(help="Words to project: JSON list (of words or [word, ...]) or one per line.")
]
QualityBenchmark = Annotated[Path | None, typer.Option(help="A BEIR folder: NDCG@10 (test split) beside the bias.")]
QualitySts = Annotated[Path | None, typer.Option(help="Scored pairs: STS Spearman beside the bias.")]
ExposureDocs = Annotated[
    Path | None, typer.Option(help="Documents with a group for retrieval exposure: records with id, text, group.")
]
ExposureQueries = Annotated[Path | None, typer.Option(help="Queries for retrieval exposure: .txt, a line each.")]

console = Console()
err = Console(stderr=True)

ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model directory or hub id; default: the bundled all-MiniLM-L6-v2."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _version(value: bool) -> None:
    if value:
        console.print(f"embedlab {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """embedlab: local-first custom text embeddings."""


@app.command()
def encode(
    input: Annotated[Path, typer.Argument(help="Texts: .txt (a line each), .jsonl, .csv, .tsv or .parquet.")],
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
) -> None:
    """Encode a file of texts and write the vectors with their ids and the model's fingerprint."""
    from embedlab.encode import EmbeddingCache, Encoder
    from embedlab.io import read_texts, writable_path, write_embeddings

    output = writable_path(output or input.with_name(input.stem + ".embeddings.parquet"))
    if output.resolve() == input.resolve():
        raise EmbedlabError(f"The output {output} is the input file: choose another --output.")
    records = read_texts(input, text_field=text_field, id_field=id_field, title_field=title_field)
    if not records.texts:
        raise EmbedlabError(f"{input}: no texts to encode.")
    if records.skipped_blank_lines:
        err.print(f"skipped {records.skipped_blank_lines} blank lines")
    encoder = Encoder(
        model,
        cache=EmbeddingCache(cache_path) if cache else None,
        batch_size=batch_size,
        normalize=normalize,
        on_empty=empty,
        show_progress=True,
    )
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncationWarning)
        if chunk or records.titles is not None:
            docs = encoder.encode_documents(
                records.texts,
                titles=records.titles,
                max_tokens=max_tokens,
                overlap=overlap,
                aggregate=aggregate,
                precision=precision,
            )
            vectors, detail = docs.vectors, f" ({len(docs.chunks)} chunks)"
        else:
            vectors, detail = encoder.encode(records.texts, precision=precision), ""
    elapsed = time.perf_counter() - started
    for warning in caught:
        err.print("[yellow]warning:[/]", escape(str(warning.message)), soft_wrap=True)
    write_embeddings(output, records.ids, vectors, info=encoder.info, precision=precision)
    stats = encoder.stats
    console.print(
        f"encoded {len(records.texts)} texts{detail} with {encoder.info.name} "
        f"[{encoder.info.short_fingerprint}] in {elapsed:.1f}s; cache hits {stats.cache_hits}/{stats.texts}; "
        f"wrote {vectors.shape} {vectors.dtype} to {output}",
        markup=False,
        soft_wrap=True,
    )


@app.command()
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
        console.print_json(json.dumps({"texts": texts, "similarity": matrix.tolist()}))
        return
    table = Table(title=f"cosine similarity ({encoder.info.name})")
    table.add_column("")
    for index in range(len(texts)):
        table.add_column(str(index + 1), justify="right")
    for index, text in enumerate(texts):
        table.add_row(f"{index + 1}. {text[:60]}", *(f"{value:.4f}" for value in matrix[index]))
    console.print(table)


@models_app.command("list")
def models_list(as_json: JsonOption = False) -> None:
    """List the models that load offline: bundled, installed packs, registered adapted models, the hub cache."""
    from embedlab.models import DEFAULT_MODEL_NAME, bundled_model_dir, cached_hub_models
    from embedlab.packs import installed_packs
    from embedlab.registry import ModelRegistry

    rows = [{"name": DEFAULT_MODEL_NAME, "source": "bundled", "path": str(bundled_model_dir())}]
    registered, unreadable = ModelRegistry().scan()
    rows += [
        {
            "name": entry.name,
            "source": f"pack ({entry.kind}, sha256 {entry.weights_sha256[:12]}…)",
            "path": str(entry.path),
        }
        for entry in installed_packs()
    ]
    rows += [
        {
            "name": entry.name,
            "source": f"registry ({entry.lineage.method} of {entry.lineage.base})",
            "path": str(entry.path),
        }
        for entry in registered
    ]
    rows += [
        {"name": bad.name, "source": "registry (unreadable)", "path": str(bad.path), "error": bad.reason}
        for bad in unreadable
    ]
    rows += [{"name": repo, "source": "hub cache", "path": path} for repo, path in cached_hub_models()]
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title="models available offline (embedlab models show NAME for details)")
    for column in ("name", "source", "path"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["source"], row["path"])
    console.print(table)
    for row in rows:
        if "error" in row:
            err.print("[yellow]warning:[/]", escape(row["error"]), soft_wrap=True)


@models_app.command("show")
def models_show(
    spec: Annotated[str | None, typer.Argument(help="Model directory or hub id; default: the bundled model.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Load a model and show its fingerprint, dimension, max sequence length, modules and lineage."""
    from embedlab.models import load_model
    from embedlab.registry import read_lineage

    info = load_model(spec).info
    lineage = read_lineage(info.path) if info.path else None
    details = {**info.to_dict(), **({"lineage": lineage.to_dict()} if lineage else {})}
    if as_json:
        console.print_json(json.dumps(details))
        return
    table = Table(title=info.name, show_header=False)
    for key, value in info.to_dict().items():
        table.add_row(key, ", ".join(value) if isinstance(value, list | tuple) else str(value))
    for key, value in (lineage.to_dict() if lineage else {}).items():
        table.add_row(f"lineage.{key}", json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(table)


@models_app.command("compare")
def models_compare(
    names: Annotated[list[str], typer.Argument(help="Registered model names.")],
    as_json: JsonOption = False,
) -> None:
    """Compare registered models side by side: method, base, data and every recorded metric."""
    from embedlab.registry import ModelRegistry

    rows = ModelRegistry().compare(names)
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title="registered models")
    table.add_column("field")
    for row in rows:
        table.add_column(str(row["name"]), justify="right")
    for field in list(rows[0])[1:] if rows else []:
        values = [row[field] for row in rows]
        table.add_row(field, *(f"{v:.4f}" if isinstance(v, float) else "-" if v is None else str(v) for v in values))
    console.print(table)


@app.command()
def check(
    embeddings: Annotated[Path, typer.Argument(help="An embeddings file written by `embedlab encode`.")],
    texts: Annotated[Path | None, typer.Option(help="The texts file, to tell duplicate texts apart.")] = None,
    text_field: Annotated[str | None, typer.Option(help="Field holding the text in --texts.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Check embeddings for NaN/Inf, norms, dead dimensions, duplicates and collapse. Exit 1 on errors."""
    from embedlab.check import check_embeddings
    from embedlab.io import read_embeddings, read_texts

    data = read_embeddings(embeddings)
    text_list = read_texts(texts, text_field=text_field).texts if texts else None
    precision = str(data.meta.get("precision", "float32"))
    report = check_embeddings(
        data.vectors, texts=text_list, precision=precision, expect_normalized=_expects_unit(data.meta)
    )
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
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


def _expects_unit(meta: dict[str, object]) -> bool | None:
    model = meta.get("model")
    if meta.get("precision", "float32") in ("float32", "float16") and isinstance(model, dict):
        return bool(model.get("normalized")) or None
    return None


@cache_app.command("info")
def cache_info(
    path: Annotated[Path | None, typer.Option(help="Cache file.")] = None, as_json: JsonOption = False
) -> None:
    """Show where the cache is and how much it holds."""
    from embedlab.encode import EmbeddingCache

    stats = EmbeddingCache(path).stats()
    if as_json:
        console.print_json(json.dumps(stats.__dict__))
    else:
        console.print(
            f"{stats.path}: {stats.entries} vectors of {stats.models} models, {stats.size_bytes / 1e6:.1f} MB"
        )


@cache_app.command("clear")
def cache_clear(
    path: Annotated[Path | None, typer.Option(help="Cache file.")] = None,
    model: Annotated[
        str | None, typer.Option(help="Only this model's entries: its fingerprint, or the first 8+ hex digits.")
    ] = None,
) -> None:
    """Delete cached vectors (all, or one model's)."""
    from embedlab.encode import EmbeddingCache

    console.print(f"deleted {EmbeddingCache(path).clear(model)} vectors")


@app.command("eval")
def eval_(
    benchmark: Annotated[Path | None, typer.Option(help="A BEIR-layout folder (corpus, queries, qrels).")] = None,
    split: Annotated[str, typer.Option(help="Which qrels split to score.")] = "test",
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="A model to evaluate (repeat for more; 'default' is the bundled one). The first is the baseline.",
        ),
    ] = None,
    bm25: Annotated[bool, typer.Option(help="Add BM25 as a system.")] = False,
    sts: Annotated[Path | None, typer.Option(help="Scored pairs (text1,text2,score) for STS.")] = None,
    labels: Annotated[Path | None, typer.Option(help="Labelled texts for clustering and classification.")] = None,
    text_field: Annotated[str, typer.Option(help="Text field of --labels.")] = "text",
    label_field: Annotated[str, typer.Option(help="Label field of --labels.")] = "label",
    k: Annotated[int, typer.Option(help="Documents retrieved per query.")] = 100,
    corpus_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Rank only the judged documents plus a seeded sample of the others, N in all (as fine-tuning's "
            "dev_corpus_size).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the --corpus-size sample.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for results.json and report.html.")] = Path("eval-output"),
    cache: Annotated[bool, typer.Option(help="Use the persistent embedding cache.")] = True,
) -> None:
    """Evaluate models (and BM25) on your data; write results.json and an HTML report."""
    from embedlab.evaluate import load_beir, load_pairs
    from embedlab.evaluate.suite import run_evaluation
    from embedlab.evaluate.tasks import load_labelled
    from embedlab.io import writable_folder

    if benchmark is None and sts is None and labels is None:
        raise EmbedlabError("Nothing to evaluate: give --benchmark, --sts and/or --labels.")
    writable_folder(out)
    labelled = load_labelled(labels, text_field=text_field, label_field=label_field) if labels else None
    bench = load_beir(benchmark, split=split) if benchmark else None
    if bench is not None and corpus_size is not None:
        bench = bench.sample(corpus_size, seed=seed)
    report = run_evaluation(
        [None if spec == "default" else spec for spec in (model or ["default"])],
        benchmark=bench,
        bm25=bm25,
        sts=load_pairs(sts) if sts else None,
        clustering=labelled,
        classification=labelled,
        k=k,
        cache=cache,
    )
    paths = report.save(out)
    for task, info in report.tasks.items():
        table = Table(title=f"{info['data'].get('name', info['title'])} (95% CI; vs {report.baseline})")
        for column in ("system", *info["headline"]):
            table.add_column(column, justify="left" if column == "system" else "right")
        for row in report.rows(task):
            table.add_row(*row)
        console.print(table)
    console.print(f"wrote {paths['results']} and {paths['report']}")


@benchmark_app.command("build")
def benchmark_build(
    corpus: Annotated[Path, typer.Option(help="Documents: .jsonl, .csv, .tsv or .parquet.")],
    log: Annotated[Path, typer.Option(help="Query log or mapping: a query and a document id (or a list) per row.")],
    out: Annotated[Path, typer.Option(help="Folder to write the BEIR-layout benchmark into.")],
    query_field: Annotated[str, typer.Option(help="Query field of --log.")] = "query",
    doc_field: Annotated[str, typer.Option(help="Document id field of --log (an id or a list of ids).")] = "doc_id",
    grade_field: Annotated[str | None, typer.Option(help="Graded relevance field of --log (default: 1).")] = None,
    text_field: Annotated[str, typer.Option(help="Text field of --corpus.")] = "text",
    id_field: Annotated[str | None, typer.Option(help="Id field of --corpus (default: id or _id).")] = None,
    title_field: Annotated[str | None, typer.Option(help="Title field of --corpus.")] = None,
    dev: Annotated[float, typer.Option(help="Fraction of queries for dev.")] = 0.1,
    test: Annotated[float, typer.Option(help="Fraction of queries for test.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 13,
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty --out.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Turn a corpus and a query log into a BEIR benchmark, split by query with no leakage."""
    from embedlab.evaluate.build import build_benchmark

    summary = build_benchmark(
        corpus, log, out, query_field=query_field, doc_field=doc_field, grade_field=grade_field,
        text_field=text_field, id_field=id_field, title_field=title_field, dev=dev, test=test, seed=seed,
        overwrite=overwrite,
    )  # fmt: skip
    if as_json:
        console.print_json(json.dumps(summary.to_dict()))
        return
    console.print(
        f"{summary.path}: queries {summary.queries}, {summary.documents} documents, {summary.judgements} "
        f"judgements, relevant per query {summary.relevant_per_query['mean']:.2f} "
        f"(min {summary.relevant_per_query['min']:.0f}, max {summary.relevant_per_query['max']:.0f}), "
        f"{summary.documents_never_relevant} documents never relevant; left out "
        f"{summary.dropped_unknown_documents} judgements of unknown documents and "
        f"{summary.dropped_empty_queries} empty queries"
    )


@bias_app.command("audit")
def bias_audit(
    model: ModelOption = None,
    sets: SetsOption = None,
    tests: TestsOption = None,
    pairs: PairsOption = None,
    words: WordsOption = None,
    benchmark: QualityBenchmark = None,
    sts: QualitySts = None,
    exposure_docs: ExposureDocs = None,
    exposure_queries: ExposureQueries = None,
    out: Annotated[Path, typer.Option(help="Folder for audit.json and audit.html.")] = Path("bias-output"),
) -> None:
    """Association tests, bias direction and projections (and quality): audit.json and audit.html."""
    from embedlab.bias import audit_model, write_audit
    from embedlab.io import writable_folder
    from embedlab.models import load_model

    writable_folder(out)
    inputs = _bias_inputs(sets, tests, pairs, words, benchmark, sts, exposure_docs, exposure_queries)
    audit = audit_model(load_model(model), **inputs)
    _print_audit(audit, None)
    paths = write_audit(out, audit)
    console.print(f"wrote {paths['json']} and {paths['html']}")


@bias_app.command("debias")
def bias_debias(
    pairs: Annotated[Path, typer.Option(help="Definitional pairs, a JSON list of [word, word].")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the debiased model.")],
    model: ModelOption = None,
    components: Annotated[int, typer.Option(help="Dimensions of the bias subspace to remove.")] = 1,
    sets: SetsOption = None,
    tests: TestsOption = None,
    words: WordsOption = None,
    benchmark: QualityBenchmark = None,
    sts: QualitySts = None,
    exposure_docs: ExposureDocs = None,
    exposure_queries: ExposureQueries = None,
    report: Annotated[Path, typer.Option(help="Folder for the before/after audit.")] = Path("bias-output"),
) -> None:
    """Remove the bias subspace from a model (saved as a plain sentence-transformers model) and audit both."""
    from embedlab.bias import audit_model, bias_direction, debias_model, write_audit
    from embedlab.encode import Encoder
    from embedlab.io import writable_folder
    from embedlab.models import load_model

    writable_folder(report)
    original = load_model(model)
    inputs = _bias_inputs(sets, tests, None, words, benchmark, sts, exposure_docs, exposure_queries, required=False)
    subspace = bias_direction(Encoder(original), _pairs(pairs), components=components)
    before = audit_model(original, subspace=subspace, **inputs)
    debiased = debias_model(original, subspace, output)
    after = audit_model(debiased, subspace=subspace, **inputs)
    _print_audit(before, after)
    paths = write_audit(report, before, after)
    console.print(f"saved the debiased model to {output} [{debiased.info.short_fingerprint}]; "
                  f"wrote {paths['json']} and {paths['html']}")  # fmt: skip


def _pairs(path: Path) -> list[tuple[str, str]]:
    from embedlab.bias import load_pairs_file

    return load_pairs_file(path)


def _bias_inputs(
    sets: Path | None, tests: str | None, pairs: Path | None, words: Path | None, benchmark: Path | None,
    sts: Path | None, exposure_docs: Path | None, exposure_queries: Path | None, *, required: bool = True,
) -> dict[str, Any]:  # fmt: skip
    from embedlab.bias import load_association_tests, load_exposure_documents, load_words_file
    from embedlab.evaluate import load_beir, load_pairs
    from embedlab.io import read_texts

    if required and not any((sets, pairs, words, benchmark, sts, exposure_docs)):
        raise EmbedlabError("Nothing to audit: give --sets (association tests) and/or --pairs with --words.")
    if required and words and not pairs:
        raise EmbedlabError("--words are projected on the bias direction: give --pairs to learn it.")
    if (exposure_docs is None) != (exposure_queries is None):
        raise EmbedlabError("Retrieval exposure needs both --exposure-docs and --exposure-queries.")
    exposure = None
    if exposure_docs and exposure_queries:
        exposure = (read_texts(exposure_queries).texts, *load_exposure_documents(exposure_docs))
    names = [name.strip() for name in tests.split(",")] if tests else None
    return {
        "exposure": exposure,
        "tests": load_association_tests(sets, names) if sets else [],
        **({"pairs": _pairs(pairs)} if pairs else {}),
        "words": load_words_file(words) if words else None,
        "benchmark": load_beir(benchmark, split="test") if benchmark else None,
        "sts": load_pairs(sts) if sts else None,
    }


def _print_audit(before: BiasAudit, after: BiasAudit | None) -> None:
    audits = [before] + ([after] if after is not None else [])
    table = Table(title="bias audit" + (" (before -> after)" if len(audits) > 1 else ""))
    table.add_column("measure")
    table.add_column("value", justify="right")
    for index, result in enumerate(before.association):
        values = [f"d={a.association[index].effect_size:+.3f} p={a.association[index].p_value:.4f}" for a in audits]
        table.add_row(f"{result.test}: {' vs '.join(result.targets)} x {' vs '.join(result.attributes)}",
                      " -> ".join(values))  # fmt: skip
    if before.projections:
        table.add_row(
            "mean |projection| on bias direction", " -> ".join(f"{a.mean_abs_projection:.4f}" for a in audits)
        )
    for name in before.quality:
        table.add_row(name, " -> ".join(str(a.quality[name]) for a in audits))
    console.print(table)


IndexDir = Annotated[Path, typer.Argument(help="The index folder.")]
InputFile = Annotated[Path, typer.Option("--input", "-i", help="Documents: .jsonl, .csv, .tsv, .parquet or .txt.")]
MetadataOption = Annotated[
    list[str] | None,
    typer.Option(
        "--metadata-field", help="A field to store and filter on, NAME or NAME:TYPE (string, int, float, bool)."
    ),
]


def _documents(
    path: Path, text_field: str | None, id_field: str | None, title_field: str | None, fields: list[str]
) -> list[dict[str, Any]]:
    from embedlab.io import read_records, read_texts

    records = read_texts(path, text_field=text_field, id_field=id_field, title_field=title_field)
    extra: list[dict[str, Any]] = read_records(path) if fields else [{} for _ in records.ids]
    missing = sorted(set(fields) - set(extra[0])) if extra else []
    if missing:
        raise EmbedlabError(f"{path}: no metadata fields {missing}.")
    titles = records.titles or [None] * len(records.ids)
    return [
        {"id": doc_id, "text": text, **({"title": title} if title else {}), **{f: row.get(f) for f in fields}}
        for doc_id, text, title, row in zip(records.ids, records.texts, titles, extra, strict=True)
    ]


@index_app.command("build")
def index_build(
    path: IndexDir,
    input: InputFile,
    model: ModelOption = None,
    text_field: Annotated[str | None, typer.Option(help="Text field (default: text).")] = None,
    id_field: Annotated[str | None, typer.Option(help="Id field (default: id or _id).")] = None,
    title_field: Annotated[str | None, typer.Option(help="Title field, put before each chunk.")] = None,
    metadata_field: MetadataOption = None,
    chunk: Annotated[bool, typer.Option(help="Chunk long documents (else one truncated vector each).")] = True,
    chunk_tokens: Annotated[int | None, typer.Option(help="Tokens per chunk (default: the model's limit).")] = None,
) -> None:
    """Create an index for a model and add the documents of a file."""
    from embedlab.index import Index

    fields = dict([*item.split(":", 1), "string"][:2] for item in metadata_field or [])
    documents = _documents(input, text_field, id_field, title_field, list(fields))
    index = Index.build(path, documents, model, metadata_fields=fields, chunk=chunk, chunk_tokens=chunk_tokens)
    info = index.info()
    console.print(f"{path}: {info['documents']} documents, {info['chunks']} chunks, model {index.encoder.info.name} "
                  f"[{index.encoder.info.short_fingerprint}]")  # fmt: skip


@index_app.command("add")
def index_add(
    path: IndexDir,
    input: InputFile,
    model: ModelOption = None,
    text_field: Annotated[str | None, typer.Option(help="Text field (default: text).")] = None,
    id_field: Annotated[str | None, typer.Option(help="Id field (default: id or _id).")] = None,
    title_field: Annotated[str | None, typer.Option(help="Title field.")] = None,
) -> None:
    """Add documents to an index; documents with an existing id replace the old version."""
    from embedlab.index import Index

    index = Index.open(path, model)
    documents = _documents(input, text_field, id_field, title_field, index.settings["metadata_fields"])
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
def index_search(
    path: IndexDir,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", help="How many documents.")] = 10,
    mode: Annotated[Mode, typer.Option(help="vector, bm25 or hybrid.")] = "vector",
    filter: Annotated[str | None, typer.Option(help="SQL condition on metadata, e.g. \"lang = 'en'\".")] = None,
    min_score: Annotated[
        float | None, typer.Option(help="Drop hits below this score (the reranker's, if any).")
    ] = None,
    fusion: Annotated[Fusion, typer.Option(help="Hybrid fusion: rrf or weighted.")] = "rrf",
    alpha: Annotated[float, typer.Option(help="The vector side's weight in weighted fusion.")] = 0.5,
    rerank: Annotated[str | None, typer.Option(help="A CrossEncoder folder (or cached hub id) to rerank.")] = None,
    rerank_top: Annotated[int, typer.Option(help="How many first-stage documents the reranker sees.")] = 50,
    rerank_fusion: Annotated[
        RerankFusion, typer.Option(help="rrf: fuse the reranker's ranking with the first stage's; replace: its alone.")
    ] = "rrf",
    as_json: JsonOption = False,
) -> None:
    """Search an index, optionally reranking the first results with a cross-encoder."""
    from embedlab.index import Index

    hits = Index.open(path).search(
        query, k, mode=mode, filter=filter, min_score=min_score, fusion=fusion, alpha=alpha,
        rerank=rerank, rerank_top=rerank_top, rerank_fusion=rerank_fusion,
    )  # fmt: skip
    if as_json:
        console.print_json(json.dumps([hit.__dict__ for hit in hits], default=str))
        return
    table = Table("doc", "score", "components", "text")
    for hit in hits:
        parts = ", ".join(f"{name} {value:.3f}" for name, value in hit.components.items())
        table.add_row(hit.doc_id, f"{hit.score:.4f}", parts, escape(hit.text[:100]))
    console.print(table)


@index_app.command("info")
def index_info(path: IndexDir) -> None:
    """Show an index's model, settings and size."""
    from embedlab.index import Index

    console.print_json(json.dumps(Index.open(path).info(), default=str))


@app.command()
def serve(
    model: ModelOption = None,
    index: Annotated[
        list[str] | None, typer.Option("--index", help="An index to serve for /v1/search, as NAME=FOLDER (repeat).")
    ] = None,
    reranker: Annotated[str | None, typer.Option(help="A CrossEncoder folder for /v1/rerank.")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    api_key_file: Annotated[
        Path | None, typer.Option(help="Accepted API keys, one a line (also EMBEDLAB_API_KEYS, comma-separated).")
    ] = None,
    served_name: Annotated[str | None, typer.Option(help="Model name clients send (default: the model's).")] = None,
    max_batch: Annotated[int, typer.Option(help="Most texts per encoder call.")] = 64,
    max_wait_ms: Annotated[float, typer.Option(help="How long a batch waits for more requests.")] = 5.0,
    cache: Annotated[bool, typer.Option(help="Use the persistent embedding cache.")] = False,
    cors_origin: Annotated[
        list[str] | None, typer.Option(help="Allow this CORS origin (repeat); off by default.")
    ] = None,
) -> None:
    """Serve the OpenAI-compatible embeddings API (plus search, rerank, health and metrics)."""
    import uvicorn

    from embedlab.serve import ServeConfig, create_app, load_api_keys

    indexes = dict(item.split("=", 1) for item in index or [] if "=" in item)
    if index and len(indexes) != len(index):
        raise EmbedlabError("Give indexes as NAME=FOLDER.")
    config = ServeConfig(
        model=model, served_name=served_name, indexes=indexes, reranker=reranker,
        api_keys=load_api_keys(path=api_key_file), max_batch=max_batch, max_wait=max_wait_ms / 1000,
        cache=cache, cors_origins=tuple(cor_origin for cor_origin in cors_origin or []),
    )  # fmt: skip
    application = create_app(config)  # opens the indexes and the reranker: a bad one fails here, before serving
    err.print(f"embedlab serving on http://{host}:{port}/v1 ({'API keys required' if config.api_keys else 'no auth'})")
    uvicorn.run(application, host=host, port=port, log_level="info", timeout_graceful_shutdown=30)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's outputs.")] = Path("demo-output"),
    limit: Annotated[int | None, typer.Option(help="Use at most this many docstrings (quicker).")] = None,
    adapt: Annotated[bool, typer.Option(help="Fine-tune and evaluate base vs adapted (a few minutes).")] = True,
) -> None:
    """Run the end-to-end demo offline on the Python standard library's docstrings."""
    from embedlab.demo import run_demo

    run_demo(out, limit=limit, adapt=adapt, console=console)


def main() -> None:
    """Console-script entry point: run the app, turning embedlab errors into a message and exit code 2."""
    try:
        app()
    except EmbedlabError as exc:
        err.print("[red]error:[/]", escape(str(exc)), soft_wrap=True)
        sys.exit(2)
