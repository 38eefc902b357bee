from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from embedlab import EmbeddingModel, InputError
from embedlab.cli import app
from embedlab.demo import stdlib_docstrings
from embedlab.evaluate import RetrievalBenchmark
from embedlab.evaluate.suite import EvaluationReport, run_evaluation
from embedlab.evaluate.tasks import LabelledSet
from embedlab.models import describe

from .browser import CHROMIUM, MISSING, distinct_colours, screenshot


def _docstring_benchmark() -> RetrievalBenchmark:
    """Summary line as the query, the rest of the docstring as its document (real text on every machine)."""
    docs = [d for d in stdlib_docstrings(("json", "gzip", "shutil", "statistics")) if "\n\n" in d.text]
    corpus = {d.id: d.text.split("\n\n", 1)[1] for d in docs}
    queries = {f"q-{d.id}": d.summary for d in docs}
    return RetrievalBenchmark(corpus, queries, {f"q-{d.id}": {d.id: 1} for d in docs}, name="stdlib")


@pytest.fixture(scope="module")
def report(model: EmbeddingModel) -> EvaluationReport:
    noisy = copy.deepcopy(model.st)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        for parameter in noisy.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.02)
    labelled = LabelledSet(
        ["json parse", "json dump", "gzip open", "gzip compress"] * 3, ["json", "json", "gz", "gz"] * 3
    )
    return run_evaluation(
        [model, EmbeddingModel(noisy, describe(noisy, name="noisy"))],
        benchmark=_docstring_benchmark(),
        bm25=True,
        clustering=labelled,
    )


def test_systems_comparisons_and_worst_queries(report: EvaluationReport) -> None:
    assert [s.name for s in report.systems] == ["all-MiniLM-L6-v2", "noisy", "BM25"]
    assert report.baseline == "all-MiniLM-L6-v2"
    base = report.systems[0].retrieval
    assert base is not None and base.mean["ndcg@10"] > 0.3
    assert base.ci["ndcg@10"].low <= base.mean["ndcg@10"] <= base.ci["ndcg@10"].high
    noisy = next(c for c in report.comparisons if c.system == "noisy" and c.metric == "ndcg@10")
    assert noisy.test.verdict == "worse"  # noise in every weight: significantly worse
    assert len(report.comparisons) == 2 * len(report.metrics)
    worst = report.worst_queries[0]
    shown = worst["systems"]["all-MiniLM-L6-v2"]
    assert shown["ndcg@10"] == min(v["ndcg@10"] for v in base.per_query.values())
    # the per-query value agrees with the top documents shown for that query
    relevant_at_1 = shown["top"][0]["relevant"]
    assert (shown["ndcg@10"] == 1.0) == relevant_at_1
    assert report.systems[0].speed["ms_per_query"] > 0
    assert set(report.systems[0].results) == {"retrieval", "clustering"}
    assert set(report.systems[2].results) == {"retrieval"}  # BM25 only retrieves


def test_json_and_html_are_written(report: EvaluationReport, tmp_path: Path) -> None:
    paths = report.save(tmp_path)
    data = json.loads(paths["results"].read_text())
    assert data["baseline"] == "all-MiniLM-L6-v2"
    per_query = data["systems"][0]["retrieval"]["per_query"]
    assert len(per_query) == data["benchmark"]["queries"]
    page = paths["report"].read_text()
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == 2  # bar chart and per-query scatter
    assert all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
    assert "▼ worse" in page and "Worst queries" in page


def test_saving_onto_a_file_or_over_a_folder_is_refused_and_touches_nothing(
    report: EvaluationReport, tmp_path: Path
) -> None:
    # A file at the output path used to raise FileExistsError from mkdir (a traceback in the CLI).
    taken = tmp_path / "taken.txt"
    taken.write_text("keep me", encoding="utf-8")
    for out in (taken, taken / "below"):
        with pytest.raises(InputError, match=r"taken.txt is a file, not a folder"):
            report.save(out)
    assert taken.read_text(encoding="utf-8") == "keep me"
    (tmp_path / "out" / "report.html").mkdir(parents=True)  # a folder where the page goes: nothing written
    with pytest.raises(InputError, match=r"report.html is a folder"):
        report.save(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html"]


@pytest.mark.skipif(CHROMIUM is None, reason=MISSING)
def test_report_renders_in_a_headless_browser(report: EvaluationReport, tmp_path: Path) -> None:
    pixels = screenshot(report.save(tmp_path)["report"], tmp_path)
    assert pixels.shape[:2] == (2400, 1280)
    assert distinct_colours(pixels[:1200]) > 200  # the charts are drawn, not a blank or text-only page


def test_cli_eval_and_benchmark_build(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    docs = [d for d in stdlib_docstrings(("json", "gzip")) if "\n\n" in d.text]
    corpus.write_text("\n".join(json.dumps({"id": d.id, "text": d.text.split("\n\n", 1)[1]}) for d in docs))
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps({"query": d.summary, "doc_id": d.id}) for d in docs))
    runner = CliRunner()
    result = runner.invoke(app, ["benchmark", "build", "--corpus", str(corpus), "--log", str(log),
                                 "--out", str(tmp_path / "bench"), "--test", "0.5", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["queries"]["test"] == round(len(docs) * 0.5)
    result = runner.invoke(app, ["eval", "--benchmark", str(tmp_path / "bench"), "--bm25", "--no-cache",
                                 "--out", str(tmp_path / "out")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "BM25" in result.output and "ndcg@10" in result.output
    assert (tmp_path / "out" / "report.html").is_file()
    assert runner.invoke(app, ["eval"]).exception is not None  # nothing to evaluate: a clear EmbedlabError
