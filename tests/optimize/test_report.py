import base64
import re

from rich.console import Console

from embedlab.optimize import Candidate, OptimizeReport
from embedlab.optimize.report import frontier, render_html, table_rows, text_table


def _candidate(kind, docs_per_s, ndcg, *, p=1.0, diff=0.0, parity=None):
    return Candidate(
        kind,
        backend="onnx",
        speed={
            "docs_per_s": docs_per_s,
            "query_p50_ms": 1000 / docs_per_s,
            "by_bucket": {
                "1-16": {"docs_per_s": 2 * docs_per_s, "query_p50_ms": 5.0},
                "65-128": {"docs_per_s": docs_per_s},
            },
        },
        quality={
            "ndcg@10": {"value": ndcg, "low": ndcg - 0.02, "high": ndcg + 0.02},
            "relative_loss": max(0, 1 - ndcg / 0.7),
            "ratio": ndcg / 0.7,
            "test": {
                "difference": {"value": diff},
                "p_value": p,
                "verdict": "worse" if p < 0.05 else "no significant difference",
            },
        },
        parity=parity or {"passed": True, "cosine_mean": 0.995, "top10_cross": 0.95, "top10_own": 0.95},
    )


def _report():
    candidates = [
        _candidate("torch", 40.0, 0.70),
        _candidate("onnx", 60.0, 0.70),
        _candidate("onnx-int8", 90.0, 0.695, diff=-0.005),
        _candidate(
            "static",
            4000.0,
            0.55,
            p=0.001,
            diff=-0.15,
            parity={"passed": False, "cosine_mean": None, "top10_cross": None, "top10_own": 0.41},
        ),
        Candidate("openvino", error="This needs embedlab's extra 'openvino'"),
    ]
    return OptimizeReport(
        {"name": "bundled", "fingerprint": "f" * 64},
        {"name": "tiny", "queries": 3, "documents": 9},
        0.01,
        "avx2",
        candidates,
        chosen="onnx-int8",
        saved="/reg/fast",
    )


def test_the_frontier_keeps_only_variants_nothing_beats_on_both_axes():
    report = _report()
    assert [c.kind for c in frontier([c for c in report.candidates if c.ok])] == ["static", "onnx-int8", "onnx"]
    assert [c.kind for c in report.within_budget()] == ["torch", "onnx", "onnx-int8"]  # loss 0.71% <= 1%


def test_table_rows_give_ratios_to_the_source_and_the_reason_a_variant_was_skipped():
    rows = {row[0]: row for row in table_rows(_report())}
    assert rows["onnx-int8 *"][1:5] == ("90.0", "2.25", "11.11", "2.25")
    assert rows["static"][6] == "-0.1500 ▼ p=0.001" and rows["static"][7].startswith("own space")
    assert rows["onnx"][7] == "pass cos 0.9950 top10 0.95"
    assert rows["openvino"][1].startswith("skipped: This needs embedlab's extra 'openvino'")


def test_the_terminal_table_is_titled_with_the_cpu_and_holds_every_row():
    console = Console(record=True, width=200)
    console.print(text_table(_report()))
    text = console.export_text()
    assert "variants on this CPU (avx2)" in text and "onnx-int8 *" in text and "pass cos 0.9950 top10 0.95" in text


def test_the_html_report_holds_the_table_buckets_and_a_frontier_plot(tmp_path):
    report = _report()
    page = render_html(report)
    assert "Saved <b>onnx-int8</b> to <code>/reg/fast</code>" in page and "avx2" in page
    assert (
        page.count("<tr>") == (1 + 5) + (1 + 4) and "1-16 tokens" in page
    )  # variants; buckets of the measured and "65-128 tokens" in page
    png = re.search(r"src='data:image/png;base64,([^']+)'", page)
    assert png is not None and base64.b64decode(png.group(1)).startswith(b"\x89PNG")
    assert report.save(tmp_path).read_text(encoding="utf-8") == page
    assert (tmp_path / "results.json").is_file()
