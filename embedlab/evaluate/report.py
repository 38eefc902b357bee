"""A self-contained HTML report of an :class:`~embedlab.evaluate.suite.EvaluationReport`.

One file, no network: charts are PNGs (matplotlib) embedded as data URIs, styles inline, so the report
opens anywhere and can be mailed or archived. Sections: a summary table with 95% intervals and
significance marks against the baseline for each task (retrieval, STS, clustering, classification, or any
other evaluator's), for retrieval a bar chart with error bars and per-query scatter plots of each system
against the baseline, speed, and the worst queries with what each system returned.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from embedlab import __version__
from embedlab.evaluate.retrieval import RetrievalResult
from embedlab.plots import data_uri, pyplot

if TYPE_CHECKING:
    from embedlab.evaluate.stats import Estimate
    from embedlab.evaluate.suite import EvaluationReport, SystemResult

_MARKS = {"better": ("▲", "better"), "worse": ("▼", "worse"), "no significant difference": ("=", "same")}

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.3rem .6rem;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.better{color:#1a7f37;font-weight:600}.worse{color:#cf222e;
font-weight:600}.same{color:#777}.ci{color:#777;font-size:.85em}.hit{background:#e6f4ea}img{max-width:100%}
.q{margin:1rem 0;padding:.6rem;border:1px solid #eee;border-radius:6px}.small{font-size:.85em;color:#555}
"""


def write_html(report: EvaluationReport, path: str | Path) -> Path:
    """Render ``report`` to one HTML file at ``path``.

    Raises:
        InputError: ``path`` is a folder, or a file stands where one of its folders should be.
    """
    from embedlab.io import writable_path

    path = writable_path(path, (".html", ".htm"))
    path.write_text(render_html(report), encoding="utf-8")
    return path


def render_html(report: EvaluationReport) -> str:
    """The report as an HTML string."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>embedlab evaluation</title>"
        f"<style>{_STYLE}</style></head><body>",
        _header(report),
    ]
    for task, info in report.tasks.items():
        # a second task of a kind (a dev split, the seen/unseen groups of a test) is told apart by its data
        title = info["title"] if task == info["task"] else f"{info['title']}: {info['data'].get('name', task)}"
        parts += [_table(report, task, title), _verdicts(report, task), _charts(report, task)]
    parts.append(_speed(report))
    if report.worst_queries:
        parts.append(_worst(report))
    parts.append(
        "<h2>How to read this</h2><p class='small'>Intervals are 95% percentile bootstrap intervals over queries "
        "(pairs or items for the other tasks). Each system is compared with the baseline (the first "
        "system) query by query with a paired randomisation test; ▲/▼ mark a significant difference (p &lt; 0.05), "
        "= none. A higher score without a mark is not an improvement.</p></body></html>"
    )
    return "\n".join(parts)


def _header(report: EvaluationReport) -> str:
    bench = report.benchmark
    what = (
        f"{html.escape(str(bench.get('name')))}: {bench.get('queries')} queries, {bench.get('documents')} documents"
        if bench
        else "no retrieval benchmark"
    )
    models = "".join(
        f"<li>{html.escape(s.name)}: <code>{html.escape(str(s.model.get('fingerprint', ''))[:16])}</code> "
        f"({s.model.get('dimension')} dims, {html.escape(str(s.model.get('path')))})</li>"
        for s in report.systems
        if s.model
    )
    return (
        f"<h1>embedlab evaluation</h1><p>{what}. Baseline: <b>{html.escape(report.baseline)}</b>. "
        f"Created {report.created} by embedlab {__version__}.</p><ul class='small'>{models}</ul>"
    )


def _table(report: EvaluationReport, task: str, title: str) -> str:
    """Every system that has ``task``: each metric with its interval and its mark against the baseline."""
    metrics = report.tasks[task]["metrics"]
    marks = {(c.system, c.metric): c for c in report.comparisons if c.task == task}
    head = "".join(f"<th>{html.escape(m)}</th>" for m in metrics)
    rows = []
    for system in report.systems:
        result = system.results.get(task)
        if result is None:
            continue
        cells = []
        for metric in metrics:
            comparison = marks.get((system.name, metric))
            mark = ""
            if comparison is not None:
                symbol, css = _MARKS[comparison.test.verdict]
                mark = f" <span class='{css}' title='p={comparison.test.p_value:.4f}'>{symbol}</span>"
            cells.append(_cell(result.ci[metric], mark))
        rows.append(f"<tr><th class='l'>{html.escape(system.name)}</th>{''.join(cells)}</tr>")
    return f"<h2>{html.escape(title)}</h2><table><tr><th class='l'>system</th>{head}</tr>{''.join(rows)}</table>"


def _cell(estimate: Estimate, mark: str = "") -> str:
    return f"<td>{estimate.value:.4f}{mark}<br><span class='ci'>[{estimate.low:.4f}, {estimate.high:.4f}]</span></td>"


def _verdicts(report: EvaluationReport, task: str) -> str:
    items = []
    headline = report.tasks[task]["headline"]
    for c in report.comparisons:
        if c.task != task or c.metric not in headline:
            continue
        d = c.test.difference
        symbol, css = _MARKS[c.test.verdict]
        items.append(
            f"<li><b>{html.escape(c.system)}</b> vs {html.escape(c.baseline)} on {c.metric}: "
            f"{d.value:+.4f} [{d.low:+.4f}, {d.high:+.4f}], p = {c.test.p_value:.4f} "
            f"<span class='{css}'>{symbol} {c.test.verdict}</span></li>"
        )
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _charts(report: EvaluationReport, task: str) -> str:
    """For retrieval: a bar chart with error bars and, with more than one system, per-query scatter plots."""
    systems = [s for s in report.systems if isinstance(s.results.get(task), RetrievalResult)]
    if not systems:
        return ""
    parts = [f"<h2>Metrics with 95% intervals</h2><img alt='bar chart' src='{_bars(report, task, systems)}'>"]
    if len(systems) > 1:
        parts.append(f"<h2>Per query against {html.escape(systems[0].name)}</h2>"
                     f"<img alt='per-query scatter' src='{_scatter(report, task, systems)}'>")  # fmt: skip
    return "".join(parts)


def _speed(report: EvaluationReport) -> str:
    keys = sorted({key for s in report.systems for key in s.speed})
    if not keys:
        return ""
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        f"<tr><th class='l'>{html.escape(s.name)}</th>"
        + "".join(f"<td>{s.speed[k]:.1f}</td>" if k in s.speed else "<td>—</td>" for k in keys)
        + "</tr>"
        for s in report.systems
    )
    return f"<h2>Speed (this machine)</h2><table><tr><th class='l'>system</th>{head}</tr>{body}</table>"


def _worst(report: EvaluationReport) -> str:
    blocks = []
    for item in report.worst_queries:
        relevant = "".join(
            f"<li><code>{html.escape(r['id'])}</code> (grade {r['grade']}): {html.escape(r['text'])}…</li>"
            for r in item["relevant"]
        )
        systems = []
        for name, result in item["systems"].items():
            tops = "".join(
                f"<li class='{'hit' if t['relevant'] else ''}'><code>{html.escape(t['id'])}</code> "
                f"{t['score']:.3f}{' ✓' if t['relevant'] else ''}: {html.escape(t['text'])}…</li>"
                for t in result["top"]
            )
            score = next(value for key, value in result.items() if key != "top")
            systems.append(f"<p><b>{html.escape(name)}</b> ({score:.3f})</p><ol>{tops}</ol>")
        blocks.append(
            f"<div class='q'><b>{html.escape(item['query'])}</b> <span class='small'>({html.escape(item['query_id'])})"
            f"</span><p class='small'>relevant:</p><ul class='small'>{relevant}</ul>{''.join(systems)}</div>"
        )
    return f"<h2>Worst queries of {html.escape(report.baseline)}</h2>{''.join(blocks)}"


def _bars(report: EvaluationReport, task: str, systems: list[SystemResult]) -> str:
    plt = pyplot()
    metrics = report.tasks[task]["headline"]
    figure, axis = plt.subplots(figsize=(10, 4.2))
    width = 0.8 / len(systems)
    for offset, system in enumerate(systems):
        ci = [system.results[task].ci[m] for m in metrics]
        values = np.array([e.value for e in ci])
        errors = np.array([[e.value - e.low for e in ci], [e.high - e.value for e in ci]])
        positions = np.arange(len(metrics)) + offset * width - 0.4 + width / 2
        axis.bar(positions, values, width, yerr=errors, capsize=4, label=system.name)
        for x, value in zip(positions, values, strict=True):
            axis.text(x, value / 2, f"{value:.3f}", ha="center", va="center", fontsize=8, color="white")
    axis.set_xticks(np.arange(len(metrics)), metrics)
    axis.set_ylim(0, 1)
    axis.set_ylabel("score (95% CI)")
    axis.legend(loc="lower right", fontsize=8)
    return data_uri(figure)


def _scatter(report: EvaluationReport, task: str, systems: list[SystemResult]) -> str:
    plt = pyplot()
    metric = report.tasks[task]["primary"]
    per_query = [cast(RetrievalResult, s.results[task]).values(metric) for s in systems]
    base, others = systems[0], systems[1:4]
    figure, axes = plt.subplots(1, len(others), figsize=(4.3 * len(others), 4.2), squeeze=False)
    x = per_query[0]
    for axis, system, y in zip(axes[0], others, per_query[1:4], strict=True):
        jitter = np.random.default_rng(0).uniform(-0.01, 0.01, size=(2, len(x)))
        axis.scatter(x + jitter[0], y + jitter[1], s=8, alpha=0.5)
        axis.plot([0, 1], [0, 1], color="grey", linewidth=1)
        axis.set_xlabel(f"{base.name} {metric}")
        axis.set_ylabel(f"{system.name} {metric}")
        axis.set_title(f"above the line: {int((y > x).sum())}, below: {int((y < x).sum())}", fontsize=9)
    return data_uri(figure)
