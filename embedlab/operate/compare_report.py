"""The HTML page of a migration comparison: figures with intervals, the test, the queries that disagree most.

One self-contained file in the style of :mod:`embedlab.evaluate.report` (same stylesheet, no network).
"""

from __future__ import annotations

import html
from typing import Any

from embedlab import __version__
from embedlab.evaluate.report import _MARKS, _STYLE
from embedlab.evaluate.stats import Estimate

_NAMES = {"overlap": "overlap@k", "jaccard": "Jaccard@k", "rbo": "rank-biased overlap", "top1": "top-1 agreement"}


def render(result: dict[str, Any]) -> str:
    """The comparison ``result`` (:func:`embedlab.operate.compare.compare`) as an HTML string."""
    old, new = result["old"], result["new"]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>embedlab migration comparison</title>"
        f"<style>{_STYLE}</style></head><body><h1>Migration comparison</h1>",
        f"<p>old: <code>{html.escape(old['path'])}</code> ({html.escape(str(old['model']['name']))}, "
        f"{old['documents']} documents)<br>new: <code>{html.escape(new['path'])}</code> "
        f"({html.escape(str(new['model']['name']))}, {new['documents']} documents)<br>"
        f"<span class='small'>Created {result['created']} by embedlab {__version__}; top {result['k']}, "
        f"RBO persistence {result['rbo_p']}.</span></p>",
        _retrieval(result.get("retrieval")),
        _agreement(result["agreement"]),
        _thresholds(result.get("thresholds")),
        _disagreements(result["disagreements"]),
        "<h2>How to read this</h2><p class='small'>Intervals are 95% percentile bootstrap intervals over queries. "
        "NDCG@10 of the two indexes is compared query by query with a paired randomisation test; ▲/▼ mark a "
        "significant difference (p &lt; 0.05), = none. Agreement is 1 when both return the same documents in the "
        "same order; it says how much users would notice, not which index is better.</p></body></html>",
    ]
    return "\n".join(parts)


def _cell(estimate: dict[str, float]) -> str:
    e = Estimate(**estimate)
    return f"<td>{e.value:.4f}<br><span class='ci'>[{e.low:.4f}, {e.high:.4f}]</span></td>"


def _retrieval(quality: dict[str, Any] | None) -> str:
    if not quality:
        return ""
    metrics = list(quality["old"])
    head = "".join(f"<th>{html.escape(m)}</th>" for m in metrics)
    rows = "".join(
        f"<tr><th class='l'>{side}</th>{''.join(_cell(quality[side][m]) for m in metrics)}</tr>"
        for side in ("old", "new")
    )
    test = quality["ndcg@10_test"]
    symbol, css = _MARKS[test["verdict"]]
    d = test["difference"]
    return (
        f"<h2>Quality on {html.escape(str(quality['benchmark']))} ({quality['queries']} queries)</h2>"
        f"<table><tr><th class='l'>index</th>{head}</tr>{rows}</table>"
        f"<p>NDCG@10 new − old: {d['value']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}], p = {test['p_value']:.4f} "
        f"<span class='{css}'>{symbol} {html.escape(test['verdict'])}</span></p>"
    )


def _agreement(agreement: dict[str, Any]) -> str:
    if not agreement:
        return ""
    head = "".join(f"<th>{_NAMES[name]}</th>" for name in _NAMES)
    rows = "".join(
        f"<tr><th class='l'>{html.escape(source)} ({values['queries']} queries)</th>"
        + "".join(_cell(values[name]) for name in _NAMES)
        + "</tr>"
        for source, values in agreement.items()
    )
    return f"<h2>Agreement of the two indexes</h2><table><tr><th class='l'>queries</th>{head}</tr>{rows}</table>"


def _thresholds(thresholds: dict[str, Any] | None) -> str:
    if not thresholds:
        return ""
    status = thresholds.get("status")
    if status != "calibrated":
        reason = thresholds.get("reason", "")
        return f"<h2>Thresholds</h2><p>Not calibrated ({html.escape(str(status))}): {html.escape(str(reason))}</p>"
    items = []
    for side in ("old", "new"):
        found = thresholds.get(side) or {}
        if "value" in found:
            held = found["held_out"]
            items.append(f"<li>{side}: {found['value']:.4f} for {html.escape(found['objective'])}; held-out precision "
                         f"{Estimate(**held['precision'])}, recall {Estimate(**held['recall'])}</li>")  # fmt: skip
        else:
            items.append(f"<li>{side}: none ({html.escape(str(found.get('error', '')))})</li>")
    return f"<h2>Thresholds ({html.escape(thresholds['objective'])})</h2><ul>{''.join(items)}</ul>"


def _disagreements(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    blocks = []
    for row in rows:
        relevant = set(row.get("relevant", []))
        lists = []
        for side in ("old", "new"):
            items = "".join(
                f"<li class='{'hit' if doc in relevant else ''}'><code>{html.escape(doc)}</code> {score:.3f}"
                f"{' ✓' if doc in relevant else ''}</li>"
                for doc, score in row[side]
            )
            ndcg = row.get(f"ndcg_{side}")
            lists.append(f"<td class='l'><b>{side}</b>{f' (NDCG@10 {ndcg:.3f})' if ndcg is not None else ''}"
                         f"<ol>{items}</ol></td>")  # fmt: skip
        blocks.append(
            f"<div class='q'><b>{html.escape(row['query'])}</b> <span class='small'>RBO {row['rbo']:.3f}, overlap "
            f"{row['overlap']:.2f}, top-1 {'same' if row['top1'] else 'different'}</span>"
            f"<table><tr>{''.join(lists)}</tr></table></div>"
        )
    return f"<h2>The queries where they disagree most</h2>{''.join(blocks)}"
