"""``embedlab eval`` and ``embedlab benchmark build``: measure models on your data, and make that data.

Example:
    $ embedlab eval --benchmark scifact_beir --model default --model ./my-model --bm25
    $ embedlab benchmark build --corpus docs.jsonl --log clicks.jsonl --out my-bench
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedlab.cli.common import JsonOption, console, print_json, results_table
from embedlab.errors import EmbedlabError

benchmark_app = typer.Typer(help="Build benchmarks from your own data.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``eval`` and ``benchmark`` to the main app."""
    app.command("eval")(eval_)
    app.add_typer(benchmark_app, name="benchmark")


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
    for task in report.tasks:
        console.print(results_table(report, task))
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
    split_by: Annotated[
        str,
        typer.Option(
            help="query: each query on its own; document: queries sharing a relevant document together, so test "
            "measures documents training never saw."
        ),
    ] = "query",
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty --out.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Turn a corpus and a query log into a BEIR benchmark, split by query (or by document) with no leakage."""
    from embedlab.evaluate.build import build_benchmark

    summary = build_benchmark(
        corpus, log, out, query_field=query_field, doc_field=doc_field, grade_field=grade_field,
        text_field=text_field, id_field=id_field, title_field=title_field, dev=dev, test=test, seed=seed,
        split_by=split_by, overwrite=overwrite,  # type: ignore[arg-type]
    )  # fmt: skip
    if as_json:
        print_json(summary.to_dict())
        return
    console.print(
        f"{summary.path}: split by {summary.split_by}, queries {summary.queries}, {summary.documents} documents, "
        f"{summary.judgements} judgements, relevant per query {summary.relevant_per_query['mean']:.2f} "
        f"(min {summary.relevant_per_query['min']:.0f}, max {summary.relevant_per_query['max']:.0f}), "
        f"{summary.documents_never_relevant} documents never relevant; left out "
        f"{summary.dropped_unknown_documents} judgements of unknown documents and "
        f"{summary.dropped_empty_queries} empty queries; {summary.test_documents_in_train} relevant documents of "
        "test queries are also relevant in train"
    )
