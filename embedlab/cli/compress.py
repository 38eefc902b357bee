"""``embedlab compress plan INDEX --benchmark DIR``: the command line of :mod:`embedlab.operate.compress`.

Example:
    $ embedlab compress plan my-index --benchmark my-bench --target 0.99
    $ embedlab compress plan my-index --benchmark my-bench --precision int8 --precision binary --rescore 4 --apply
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from embedlab.atomic import write_json
from embedlab.cli.common import console

compress_app = typer.Typer(help="Compress an index's search vectors, measured on your benchmark.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``compress`` to the main app."""
    app.add_typer(compress_app, name="compress")


@compress_app.command("plan")
def compress_plan(
    path: Annotated[Path, typer.Argument(help="The index folder (built from the benchmark's corpus).")],
    benchmark: Annotated[Path, typer.Option(help="A BEIR folder whose corpus the index holds.")],
    split: Annotated[str, typer.Option(help="Benchmark split to measure on.")] = "test",
    target: Annotated[float, typer.Option(help="Share of exact float32 search's NDCG@10 to keep.")] = 0.99,
    precision: Annotated[
        list[str] | None, typer.Option(help="Precisions to try (repeat; default: float32, float16, int8, binary).")
    ] = None,
    dims: Annotated[list[int] | None, typer.Option(help="Dimensions to try (repeat; default: all of them).")] = None,
    rescore: Annotated[list[int] | None, typer.Option(help="Rescore multipliers (default: 0, 1, 4, 10).")] = None,
    apply: Annotated[bool, typer.Option(help="Convert the index to the chosen setting, in place.")] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for plan.json and plan.png.")] = Path(
        "compress-plan"
    ),
) -> None:
    """Measure RAM, disk, latency, recall@10 and NDCG@10 for each setting; pick the smallest that keeps TARGET."""
    from embedlab.evaluate.data import load_beir
    from embedlab.index import Index
    from embedlab.index.compact import PRECISIONS
    from embedlab.operate.compress import RESCORES, grid, plan, plot
    from embedlab.operate.compress import apply as apply_setting

    index = Index.open(path)
    bench = load_beir(benchmark, split=split)
    dimension = int(index.settings["model"]["dimension"])
    sizes: list[int | None] = list(dims) if dims else [None]
    settings = grid(dimension, precision or PRECISIONS, sizes, rescore or RESCORES)
    report = plan(index, bench, target=target, settings=settings)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "plan.json", report.to_dict())
    plot(report, out / "plan.png")
    table = Table(title=f"{path}: {report.rows} rows, {report.queries} queries; exact float32 NDCG@10 {report.exact}")
    for column in ("setting", "RAM MiB", "vectors MiB", "disk MiB", "p50 ms", "p99 ms", "recall@10", "NDCG@10 (95% CI)",
                   "kept"):  # fmt: skip
        table.add_column(column, justify="left" if column == "setting" else "right")
    for m in report.measures:
        mark = " *" if report.chosen is m else ""
        table.add_row(m.setting.label + mark, f"{m.memory_bytes / 2**20:.2f}", f"{m.vector_bytes / 2**20:.2f}",
                      f"{m.disk_bytes / 2**20:.2f}", f"{m.p50_ms:.3f}", f"{m.p99_ms:.3f}", f"{m.recall:.3f}",
                      str(m.ndcg), f"{m.retained:.2%}")  # fmt: skip
    console.print(table)
    console.print(f"plan: {out / 'plan.json'}, plot: {out / 'plan.png'}")
    if report.chosen is None:
        console.print(f"No setting keeps {target:.1%} of exact search's NDCG@10; the index is left as it is.")
        return
    console.print(f"chosen: {report.chosen.setting.label} (keeps {report.chosen.retained:.2%})")
    if apply:
        converted = apply_setting(path, report.chosen.setting)
        info = converted.info()
        console.print(f"{path} now holds {info['precision']} search vectors (dims {info['dims'] or 'all'}), "
                      f"rescore x{info.get('rescore')}")  # fmt: skip
