"""``embedlab monitor``: baseline, run and report the monitoring of a served index.

``monitor run`` exits with code 1 when a signal alarms (for cron or CI), 0 otherwise; bad input exits 2. The
query tests are Holm-corrected together (``--alpha`` is their family-wise false-alarm rate); the table shows
each raw p-value and its adjusted one.

Example:
    $ embedlab monitor init my-index --canary canary.jsonl --queries last-week.txt
    $ embedlab monitor run my-index --queries today.txt --alpha 0.05
    $ embedlab monitor report my-index -o monitor.html
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from embedlab.cli.common import JsonOption, console, print_json
from embedlab.errors import InputError

monitor_app = typer.Typer(help="Monitor a served index: canaries, drift, silent model swaps.", no_args_is_help=True)

IndexDir = Annotated[Path, typer.Argument(help="The index folder.")]
QueriesOption = Annotated[
    Path | None, typer.Option("--queries", help="Query log: .txt (one a line) or .jsonl/.csv/.parquet with 'query'.")
]
ModelOption = Annotated[
    str | None, typer.Option("--model", "-m", help="What encodes queries: the index's model or a variant of it.")
]


def register(app: typer.Typer) -> None:
    """Add ``monitor`` to the main app."""
    app.add_typer(monitor_app, name="monitor")


@monitor_app.command("init")
def monitor_init(
    path: IndexDir,
    canary: Annotated[
        Path | None, typer.Option(help="Canary queries: .jsonl/.csv rows with 'query' and 'doc_id' (an id or a list).")
    ] = None,
    benchmark: Annotated[Path | None, typer.Option(help="A BEIR folder: its queries and qrels are the canary.")] = None,
    split: Annotated[str, typer.Option(help="The benchmark's split.")] = "test",
    queries: QueriesOption = None,
    min_score: Annotated[
        float | None, typer.Option(help="Empty-result threshold (default: INDEX/threshold.json's value, if any).")
    ] = None,
    model: ModelOption = None,
) -> None:
    """Record the baseline: canary quality, scores, a reference sample of queries, probes, the corpus."""
    from embedlab.index import Index
    from embedlab.operate.monitor import init_monitor, read_canary, read_queries

    if canary is not None and benchmark is None:
        judged = read_canary(canary)
    elif benchmark is not None and canary is None:
        from embedlab.evaluate.data import load_beir

        judged = load_beir(benchmark, split=split)
    else:
        raise InputError("Give the canary queries: either --canary FILE or --benchmark DIR.")
    index = Index.open(path, model)
    baseline = init_monitor(index, canary=judged, queries=read_queries(queries) if queries else None,
                            min_score=min_score)  # fmt: skip
    means = ", ".join(f"{metric} {value:.4f}" for metric, value in baseline.canary_mean.items())
    threshold = "none" if baseline.threshold is None else f"{baseline.threshold:.4f}"
    console.print(f"{path}: baseline of {len(baseline.canary_per_query)} canary queries ({means}); "
                  f"{len(baseline.reference_queries)} reference queries; {baseline.corpus.count} documents; "
                  f"empty-result threshold {threshold}")  # fmt: skip


@monitor_app.command("run")
def monitor_run(
    path: IndexDir,
    queries: QueriesOption = None,
    alpha: Annotated[
        float, typer.Option(help="False-alarm rate of the query tests together (Holm), and of each canary test.")
    ] = 0.05,
    permutations: Annotated[int, typer.Option(help="Permutations of each drift test.")] = 1000,
    model: ModelOption = None,
    json: JsonOption = False,
) -> None:
    """Measure every signal against the baseline, append the run to the history; exit 1 on alarm."""
    from embedlab.index import Index
    from embedlab.operate.monitor import read_queries, run_monitor
    from embedlab.operate.monitor.family import describe

    if not 0 < alpha < 1:
        raise InputError(f"--alpha must be between 0 and 1, got {alpha}.")
    if permutations < 19:
        raise InputError(f"--permutations must be at least 19 (a p-value of 0.05 needs it), got {permutations}.")
    index = Index.open(path, model)
    result = run_monitor(index, queries=read_queries(queries) if queries else None, alpha=alpha,
                         permutations=permutations)  # fmt: skip
    if json:
        print_json(result.to_dict())
    else:
        table = Table("signal", "value", "p-value", "adjusted p", "alarm", title=f"monitor run {result.run_id}")
        for signal in result.signals:
            p, adjusted = ("" if v is None else f"{v:.4f}" for v in (signal.p_value, signal.adjusted_p))
            table.add_row(signal.name, f"{signal.value:.4f}", p, adjusted, "[red]ALARM[/]" if signal.alarm else "ok")
        console.print(table)
        if how := describe(result.correction):
            console.print(how)
        for note in result.notes:
            console.print(f"note: {escape(note)}")
    if result.alarm:
        raise typer.Exit(1)


@monitor_app.command("report")
def monitor_report(
    path: IndexDir,
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path("monitor-report.html"),
) -> None:
    """Write an HTML dashboard of the monitor's history: signals over time, alarms, drifted queries."""
    from embedlab.operate.monitor.report import write_report

    console.print(f"wrote {write_report(path, out)}")
