"""``embedlab monitor init / run / report`` from the command line: exit codes, messages, the HTML page."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedlab import EmbeddingModel, Encoder
from embedlab.cli import app
from embedlab.errors import InputError
from embedlab.index import Index

from .test_monitor_run import QUERIES, documents

runner = CliRunner()


def test_monitor_needs_exactly_one_canary_source(tmp_path: Path) -> None:
    result = runner.invoke(app, ["monitor", "init", str(tmp_path)])
    assert isinstance(result.exception, InputError)  # main() turns it into "error: ..." and exit code 2
    assert "either --canary FILE or --benchmark DIR" in str(result.exception)


@pytest.mark.slow
def test_init_run_report(model: EmbeddingModel, tmp_path: Path) -> None:
    Index.build(tmp_path / "index", documents(), Encoder(model, show_progress=False))
    canary = tmp_path / "canary.jsonl"
    rows = [{"query": q, "doc_id": [f"{topic}{j}" for j in range(3)]} for topic, qs in QUERIES.items() for q in qs]
    canary.write_text("\n".join(json.dumps(row) for row in rows))
    queries = tmp_path / "queries.txt"
    queries.write_text("\n".join(row["query"] for row in rows))
    index = str(tmp_path / "index")
    init = runner.invoke(app, ["monitor", "init", index, "--canary", str(canary), "--min-score", "0.2"])
    assert init.exit_code == 0, init.output
    said = " ".join(init.output.split())
    assert "baseline of 20 canary queries" in said and "threshold 0.2000" in said
    same = runner.invoke(app, ["monitor", "run", index, "--queries", str(queries), "--permutations", "99", "--json"])
    assert same.exit_code == 0, same.output  # the baseline's own queries: no alarm, exit 0
    answer = json.loads(same.output)
    assert answer["alarm"] is False
    tests = ["top1_score_ks", "topk_score_ks", "empty_rate", "query_mmd", "query_classifier_auc"]
    assert answer["correction"] == {"method": "holm", "alpha": 0.05, "family": tests}
    adjusted = {s["name"]: s["adjusted_p"] for s in answer["signals"]}
    assert {name: adjusted[name] for name in tests} == dict.fromkeys(tests, 1.0)  # the same queries: every p is 1
    assert adjusted["canary_ndcg@10"] is None and adjusted["probe_mismatch"] is None  # not in the family
    mild = tmp_path / "mild.txt"  # the baseline's queries and 7 off-topic ones, most under the 0.2 threshold
    off_topic = ["truck driver job number 1 in a warehouse", "nurse in intensive care", "accountant job",
                 "hotel receptionist", "forklift operator", "dental hygienist", "security guard"]  # fmt: skip
    mild.write_text("\n".join([row["query"] for row in rows] + off_topic))
    corrected = runner.invoke(app, ["monitor", "run", index, "--queries", str(mild), "--permutations", "99", "--json"])
    assert corrected.exit_code == 0, corrected.output  # a raw p under 0.05 that no longer alarms: exit 0
    empty_rate = {s["name"]: s for s in json.loads(corrected.output)["signals"]}["empty_rate"]
    empty = round(empty_rate["value"] * 27)  # of 27 now (6 here: 0.0276), none of the 20 at the baseline
    # Fisher's one-sided p: all the empty ones among the current 27 of 47, C(27, e) / C(47, e)
    assert empty_rate["p_value"] == pytest.approx(math.comb(27, empty) / math.comb(47, empty))
    assert empty_rate["p_value"] < 0.05  # it alarmed before the correction
    assert empty_rate["adjusted_p"] == pytest.approx(5 * empty_rate["p_value"])  # the smallest of 5, times 5
    assert empty_rate["adjusted_p"] >= 0.05 and not empty_rate["alarm"]
    other = tmp_path / "other.txt"
    other.write_text("\n".join(f"truck driver job number {i} in a warehouse" for i in range(30)))
    drift = runner.invoke(app, ["monitor", "run", index, "--queries", str(other), "--permutations", "99"])
    assert drift.exit_code == 1, drift.output  # an alarm: exit 1, for cron and CI
    said = " ".join(drift.output.split())
    assert "ALARM" in said and "adjusted p" in said and "Holm over the 5 query tests" in said
    assert "use at least 100 permutations" in said  # 99: 5 x 1/100 is not under 0.05, and it says so
    bad = runner.invoke(app, ["monitor", "run", index, "--alpha", "2"])
    assert "between 0 and 1" in str(bad.exception)
    page = tmp_path / "report.html"
    report = runner.invoke(app, ["monitor", "report", index, "-o", str(page)])
    assert report.exit_code == 0, report.output
    text = page.read_text(encoding="utf-8")
    assert "Latest run" in text and "ALARM" in text and "data:image/png;base64," in text and "adjusted p" in text
    assert "truck driver job number" in text  # the queries that drifted most
