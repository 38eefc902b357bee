"""``embedlab optimize MODEL --benchmark DIR``: the command line of :mod:`embedlab.optimize`.

Example:
    $ embedlab optimize default --benchmark esco_jobtitles --max-loss 0.01 --name minilm-fast
    $ embedlab optimize ./my-model --benchmark my-bench --variant onnx-int8 --variant static --out optimize-output
"""

from __future__ import annotations

import shutil
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from embedlab.cli.common import console
from embedlab.errors import InputError

if TYPE_CHECKING:
    from embedlab.optimize.run import OptimizeReport


def register(app: typer.Typer) -> None:
    """Add ``optimize`` to the main app."""
    app.command("optimize")(optimize_cmd)


def optimize_cmd(
    model: Annotated[str, typer.Argument(help="Source model: 'default', a directory, a registered name or hub id.")],
    benchmark: Annotated[Path, typer.Option(help="A BEIR folder: quality is measured on its dev split, else test.")],
    max_loss: Annotated[float, typer.Option(help="Largest relative NDCG@10 loss allowed (0.01 = 1%).")] = 0.01,
    name: Annotated[
        str | None, typer.Option(help="Register the fastest variant within the budget under this name.")
    ] = None,
    split: Annotated[str | None, typer.Option(help="Benchmark split to measure quality on.")] = None,
    variant: Annotated[
        list[str] | None,
        typer.Option(help="Variants to try (repeat): onnx, onnx-int8, openvino, openvino-int8, static. Default: all."),
    ] = None,
    finetune_static: Annotated[
        bool, typer.Option(help="Fine-tune the static variant on the benchmark's train pairs (MNRL) if it has them.")
    ] = True,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for report.html, results.json and the variants.")
    ] = Path("optimize-output"),
) -> None:
    """Build faster variants of MODEL, measure speed and quality on your data, keep the fastest within budget.

    Variants are built in OUT/variants-TIMESTAMP; with --name the chosen one is registered and that folder removed.
    """
    from embedlab.adapt.data import load_training
    from embedlab.evaluate.data import BenchmarkWarning, has_split, load_beir
    from embedlab.optimize.run import optimize
    from embedlab.optimize.variants import KINDS

    kinds = tuple(variant or KINDS)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise InputError(f"Unknown variants {', '.join(unknown)}; choose from {', '.join(KINDS[1:])}.")
    split = split or ("dev" if has_split(benchmark, "dev") else "test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BenchmarkWarning)
        bench = load_beir(benchmark, split=split)
    fine_tune = finetune_static and "static" in kinds and has_split(benchmark, "train")
    train = load_training(benchmark, dev_fraction=0)[0] if fine_tune else None
    work = out / f"variants-{time.strftime('%Y%m%d-%H%M%S')}"
    console.print(f"quality on {escape(str(benchmark))} split {split}: {len(bench.queries)} queries")
    report = optimize(
        None if model == "default" else model,
        bench,
        work_dir=work,
        kinds=kinds,  # type: ignore[arg-type]
        max_loss=max_loss,
        name=name,
        train=train,
        progress=lambda line: console.print(f"[dim]{escape(line)}[/]"),
    )
    print_report(report)
    html = report.save(out)
    console.print(f"report: {html}")
    if report.saved:
        shutil.rmtree(work, ignore_errors=True)  # the chosen one is in the registry; the others are hundreds of MB
        console.print(f"[green]saved[/] {report.chosen} as {escape(str(name))}: {escape(report.saved)}")
    elif report.chosen == "torch":
        console.print(f"No variant is faster within a {max_loss:.1%} NDCG@10 loss: keep the source model.")
    else:
        console.print(f"Fastest within budget: {report.chosen} (in {escape(str(work))}; pass --name to register it).")


def print_report(report: OptimizeReport) -> None:
    """The table of :func:`embedlab.optimize.report.table_rows`."""
    from embedlab.optimize.report import text_table

    console.print(text_table(report))
