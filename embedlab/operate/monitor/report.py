"""``monitor report``: the history of a monitored index as one self-contained HTML page.

Sections: the latest run (every signal, its p-value and Holm-adjusted p-value, alarm or not, and the notes), a
time series per signal (its value at each run, alarms marked with red crosses), the server's sampled queries
per day (count, empty results, abstentions, median top score), and the queries that drifted most in the latest
runs (the domain classifier's most confident "current" queries).
"""

from __future__ import annotations

import html
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from embedlab import __version__
from embedlab.errors import InputError
from embedlab.evaluate.report import _STYLE
from embedlab.operate.monitor.baseline import FOLDER
from embedlab.operate.monitor.family import describe
from embedlab.operate.monitor.history import History, QueryRecord, Run
from embedlab.plots import data_uri, pyplot

RUNS_WITH_DRIFTED = 5


def write_report(index_folder: str | Path, path: str | Path) -> Path:
    """Render the monitor history of the index at ``index_folder`` to ``path`` (an .html file).

    Raises:
        InputError: the index has no monitor history (run ``embedlab monitor init`` and ``run`` first).
    """
    from embedlab.io import writable_path

    folder = Path(index_folder) / FOLDER
    if not (folder / "history.sqlite3").is_file():
        raise InputError(f"{index_folder} has no monitor history; run 'embedlab monitor init' and 'monitor run'.")
    history = History(folder)
    target = writable_path(path, (".html", ".htm"))
    target.write_text(render_report(history.runs(), history.queries(source="server"), str(index_folder)), "utf-8")
    return target


def render_report(runs: list[Run], queries: list[QueryRecord], title: str) -> str:
    """The page as an HTML string."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>embedlab monitor</title><style>{_STYLE}</style>"
        f"</head><body><h1>Monitor of {html.escape(title)}</h1><p class='small'>embedlab {__version__}, "
        f"{len(runs)} runs, {len(queries)} queries sampled by the server.</p>",
        _latest(runs[-1]) if runs else "<p>No run yet: <code>embedlab monitor run INDEX</code>.</p>",
        _series(runs),
        _served(queries),
        _drifted(runs),
        "</body></html>",
    ]
    return "".join(parts)


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(stamp))


def _latest(run: Run) -> str:
    """The latest run's table; runs recorded before the correction have no adjusted p-values (blank)."""
    rows = []
    for signal in run.signals:
        p, adjusted = ("" if v is None else f"{v:.4f}" for v in (signal["p_value"], signal.get("adjusted_p")))
        mark = "<span class='worse'>ALARM</span>" if signal["alarm"] else "<span class='same'>ok</span>"
        rows.append(f"<tr><th class='l'>{html.escape(signal['name'])}</th><td>{signal['value']:.4f}</td><td>{p}</td>"
                    f"<td>{adjusted}</td><td>{mark}</td></tr>")  # fmt: skip
    notes = [html.escape(note) for note in run.extra.get("notes", [])]
    if how := describe(run.extra.get("correction", {})):
        notes.insert(0, html.escape(how))
    items = "".join(f"<li>{note}</li>" for note in notes)
    verdict = "<span class='worse'>ALARM</span>" if run.alarm else "<span class='better'>no alarm</span>"
    return (f"<h2>Latest run ({_when(run.time)} UTC): {verdict}</h2><table><tr><th class='l'>signal</th><th>value</th>"
            f"<th>p-value</th><th>adjusted p</th><th></th></tr>{''.join(rows)}</table>"
            f"<ul class='small'>{items}</ul>")  # fmt: skip


def _series(runs: list[Run]) -> str:
    """One small chart per signal: its value at each run, alarms as red crosses."""
    if not runs:
        return ""
    values: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
    for run in runs:
        for signal in run.signals:
            values[signal["name"]].append((run.time, float(signal["value"]), bool(signal["alarm"])))
    plt = pyplot()
    columns = 3
    rows = -(-len(values) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 2.6 * rows), squeeze=False)
    for axis, (name, points) in zip(axes.flat, values.items(), strict=False):
        x = np.arange(len(points))
        y = np.array([value for _, value, _ in points])
        alarms = np.array([alarm for _, _, alarm in points])
        axis.plot(x, y, marker="o", markersize=3, color="#0969da")
        axis.scatter(x[alarms], y[alarms], marker="x", s=60, color="#cf222e", zorder=3, label="alarm")
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("run", fontsize=8)
        axis.xaxis.get_major_locator().set_params(integer=True)
        axis.tick_params(labelsize=7)
    for axis in list(axes.flat)[len(values) :]:
        axis.axis("off")
    return f"<h2>Signals over time (red crosses: alarms)</h2><img src='{data_uri(figure)}' alt='signals'>"


def _served(queries: list[QueryRecord]) -> str:
    if not queries:
        return "<h2>Served queries</h2><p>None sampled yet (the server logs the searches of a monitored index).</p>"
    days: dict[str, list[QueryRecord]] = defaultdict(list)
    for record in queries:
        days[time.strftime("%Y-%m-%d", time.gmtime(record.time))].append(record)
    rows = []
    for day, records in sorted(days.items()):
        scores = [r.top_score for r in records if r.top_score is not None]
        median = f"{np.median(scores):.4f}" if scores else ""
        rows.append(f"<tr><th class='l'>{day}</th><td>{len(records)}</td><td>{sum(r.empty for r in records)}</td>"
                    f"<td>{sum(r.abstained for r in records)}</td><td>{median}</td></tr>")  # fmt: skip
    return ("<h2>Served queries per day (UTC)</h2><table><tr><th class='l'>day</th><th>queries</th><th>empty</th>"
            f"<th>abstained</th><th>median top score</th></tr>{''.join(rows)}</table>")  # fmt: skip


def _drifted(runs: list[Run]) -> str:
    blocks: list[str] = []
    for run in runs[::-1][:RUNS_WITH_DRIFTED]:
        items: list[dict[str, Any]] = run.extra.get("drifted", [])
        if items:
            shown = "".join(f"<li>{html.escape(item['query'])} <span class='small'>({item['p_current']:.3f})</span>"
                            "</li>" for item in items)  # fmt: skip
            blocks.append(f"<p>Run {run.id} ({_when(run.time)} UTC)</p><ol>{shown}</ol>")
    if not blocks:
        return ""
    return ("<h2>Queries that drifted most</h2><p class='small'>The current queries the domain classifier was most "
            f"sure are not like the reference (its probability in brackets).</p>{''.join(blocks)}")  # fmt: skip
