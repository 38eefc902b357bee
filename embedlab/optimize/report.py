"""The optimize report: a table of every variant and the speed-quality frontier, as text and as one HTML page.

The page is self-contained like :mod:`embedlab.evaluate.report` (the chart is a PNG data URI): the
summary table (speed as texts/s and as a ratio to the source, NDCG@10 with its 95% interval, the paired
test against the source, parity), speed by token-length bucket, the frontier plot (documents per second on
a log axis against NDCG@10 with error bars, the Pareto front joined, the loss budget as a dashed line),
and which variant was saved.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from embedlab import __version__
from embedlab.evaluate.report import _STYLE
from embedlab.plots import data_uri, pyplot

if TYPE_CHECKING:
    from embedlab.optimize.run import Candidate, OptimizeReport

_VERDICT = {"better": ("▲", "better"), "worse": ("▼", "worse"), "no significant difference": ("=", "same")}
HEADERS = ("variant", "docs/s", "x fp32", "query p50 ms", "x fp32", "NDCG@10 [95% CI]", "vs source", "parity")


def table_rows(report: OptimizeReport) -> list[tuple[str, ...]]:
    """One row of :data:`HEADERS` per candidate (as strings), skipped ones with their reason."""
    source = report.source
    rows: list[tuple[str, ...]] = []
    for c in report.candidates:
        name = c.kind + (" *" if c.kind == report.chosen else "")
        if not c.ok:
            rows.append((name, "skipped: " + c.error[:90], "", "", "", "", "", ""))
            continue
        estimate = c.quality["ndcg@10"]
        test = c.quality["test"]
        symbol = _VERDICT[test["verdict"]][0]
        rows.append((
            name,
            f"{c.speed['docs_per_s']:.1f}",
            f"{c.ratio(source, 'docs_per_s'):.2f}",
            f"{c.speed['query_p50_ms']:.2f}",
            f"{c.ratio(source, 'query_p50_ms'):.2f}",
            f"{estimate['value']:.4f} [{estimate['low']:.3f}, {estimate['high']:.3f}]",
            "" if c.kind == "torch" else f"{test['difference']['value']:+.4f} {symbol} p={test['p_value']:.3f}",
            _parity(c),
        ))  # fmt: skip
    return rows


def text_table(report: OptimizeReport) -> Table:
    """:func:`table_rows` as a rich table for the terminal, titled with the CPU's instruction set."""
    table = Table(title=f"variants on this CPU ({report.cpu})")
    for header in HEADERS:
        table.add_column(header, no_wrap=header in ("variant", "docs/s", "x fp32"))
    for row in table_rows(report):
        table.add_row(*(escape(cell) for cell in row))
    return table


def _parity(c: Candidate) -> str:
    if c.kind == "torch" or not c.parity:
        return ""
    if c.parity.get("cosine_mean") is None:
        return f"own space; top-10 {c.parity['top10_own']:.2f}"
    mark = "pass" if c.parity.get("passed") else "FAIL"
    return f"{mark} cos {c.parity['cosine_mean']:.4f} top10 {c.parity['top10_cross']:.2f}"


def write_html(report: OptimizeReport, path: str | Path) -> Path:
    """Render ``report`` to one HTML file at ``path``."""
    path = Path(path)
    path.write_text(render_html(report), encoding="utf-8")
    return path


def render_html(report: OptimizeReport) -> str:
    """The report as an HTML string."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    body = "".join(
        "<tr>"
        + "".join(f"<td class='{'l' if i in (0, 7) else ''}'>{html.escape(v)}</td>" for i, v in enumerate(row))
        + "</tr>"
        for row in table_rows(report)
    )
    bench = report.benchmark
    chosen = html.escape(report.chosen)
    saved = (
        f"<p>Saved <b>{chosen}</b> to <code>{html.escape(report.saved)}</code> with its lineage.</p>"
        if report.saved
        else f"<p>Fastest within the budget: <b>{html.escape(report.chosen)}</b> (not registered).</p>"
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>embedlab optimize</title><style>{_STYLE}</style>"
        "</head><body><h1>embedlab optimize</h1>",
        f"<p>Model <b>{html.escape(str(report.model.get('name')))}</b> "
        f"(<code>{html.escape(str(report.model.get('fingerprint', ''))[:16])}</code>) on "
        f"{html.escape(str(bench.get('name')))}: {bench.get('queries')} queries, {bench.get('documents')} documents. "
        f"CPU instruction set: <b>{html.escape(str(report.cpu))}</b>. Loss budget: {report.max_loss:.1%} of NDCG@10. "
        f"Created {html.escape(report.created)} by embedlab {__version__}.</p>",
        saved,
        f"<h2>Variants</h2><table><tr>{head}</tr>{body}</table>",
        _buckets(report),
    ]
    measured = [c for c in report.candidates if c.ok]
    if measured:
        parts.append(f"<h2>Speed-quality frontier</h2><img alt='frontier' src='{_frontier(report)}'>")
    parts.append(
        "<h2>How to read this</h2><p class='small'>Speed is measured on this machine: documents in batches of 32 "
        "(texts per second) and queries one at a time (median latency), each also as a ratio to the source "
        "model (torch fp32) measured in the same run. NDCG@10 has a 95% bootstrap interval over queries; the "
        "paired randomisation test against the source marks ▲/▼ only when p &lt; 0.05. Parity compares each "
        "variant's vectors with the source's on held texts (mean cosine, top-10 agreement of the variant's "
        "queries against the source's documents); only a variant that passes may encode queries for an index "
        "built with the source. * marks the fastest variant within the loss budget.</p></body></html>"
    )
    return "\n".join(parts)


def _buckets(report: OptimizeReport) -> str:
    names = list(dict.fromkeys(name for c in report.candidates if c.ok for name in c.speed.get("by_bucket", {})))
    if not names:
        return ""
    head = "".join(f"<th>{html.escape(n)} tokens</th>" for n in names)
    rows = []
    for c in report.candidates:
        if not c.ok:
            continue
        cells = []
        for name in names:
            bucket = c.speed["by_bucket"].get(name, {})
            docs = f"{bucket['docs_per_s']:.1f} docs/s" if "docs_per_s" in bucket else ""
            query = f"{bucket['query_p50_ms']:.2f} ms" if "query_p50_ms" in bucket else ""
            cells.append(f"<td>{docs}<br><span class='ci'>{query}</span></td>")
        rows.append(f"<tr><th class='l'>{html.escape(c.kind)}</th>{''.join(cells)}</tr>")
    return (
        "<h2>By token length</h2><p class='small'>documents per second (batch 32) and, below, query median "
        f"latency (batch 1)</p><table><tr><th class='l'>variant</th>{head}</tr>{''.join(rows)}</table>"
    )


def frontier(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates no other beats on both speed and NDCG@10, fastest first."""
    ordered = sorted(candidates, key=lambda c: -float(c.speed["docs_per_s"]))
    front: list[Candidate] = []
    for c in ordered:
        if not front or c.quality["ndcg@10"]["value"] > front[-1].quality["ndcg@10"]["value"]:
            front.append(c)
    return front


def _frontier(report: OptimizeReport) -> str:
    plt = pyplot()
    measured = [c for c in report.candidates if c.ok]
    figure, axis = plt.subplots(figsize=(8, 4.8))
    for number, c in enumerate(measured):
        estimate = c.quality["ndcg@10"]
        x = float(c.speed["docs_per_s"])
        axis.errorbar([x], [estimate["value"]], yerr=[[estimate["value"] - estimate["low"]],
                      [estimate["high"] - estimate["value"]]], fmt="o", capsize=4,
                      color="#cf222e" if c.kind == report.chosen else "#0969da")  # fmt: skip
        offset = (6, 6 - 14 * (number % 3))  # neighbours of similar speed get their labels on different lines
        axis.annotate(c.kind, (x, estimate["value"]), textcoords="offset points", xytext=offset, fontsize=9)
    front = frontier(measured)
    axis.plot([float(c.speed["docs_per_s"]) for c in front], [c.quality["ndcg@10"]["value"] for c in front],
              color="grey", linewidth=1, linestyle="-", label="frontier")  # fmt: skip
    floor = report.source.quality["ndcg@10"]["value"] * (1 - report.max_loss) if report.source.ok else None
    if floor is not None:
        axis.axhline(floor, color="#cf222e", linestyle="--", linewidth=1, label=f"loss budget {report.max_loss:.1%}")
    axis.set_xscale("log")
    from matplotlib import ticker

    axis.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axis.xaxis.set_minor_formatter(ticker.NullFormatter())
    axis.set_xlabel("documents per second, batch 32 (log scale, this machine)")
    axis.set_ylabel("NDCG@10 (95% CI)")
    axis.legend(loc="best", fontsize=8)
    return data_uri(figure)
