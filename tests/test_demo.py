from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from embedlab import read_embeddings
from embedlab.demo import run_demo, stdlib_docstrings


def test_corpus_is_the_standard_library() -> None:
    docs = stdlib_docstrings(("json", "gzip"))
    ids = {doc.id for doc in docs}
    assert {"json.loads", "json.dumps", "gzip.compress", "gzip.GzipFile.rewind"} <= ids
    assert all(doc.text == doc.text.strip() for doc in docs)


def _log(folder: Path) -> Console:
    return Console(file=open(folder / "log.txt", "w"))


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    """Steps 1-7 and 9 on the whole corpus; step 8 (adaptation, minutes) is tested on a slice below."""
    report = run_demo(tmp_path, adapt=False, console=_log(tmp_path))
    files = {path.name for path in tmp_path.iterdir()}
    assert {"embeddings.parquet", "corpus.jsonl", "report.json", "demo.png", "eval", "index"} <= files
    assert (tmp_path / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "report.json").read_text())["model"]["fingerprint"] == report["model"]["fingerprint"]
    assert report["quality"]["ok"]
    assert report["corpus"]["over_limit"] > 0  # some docstrings are long enough to need chunking
    assert report["encoding"]["chunks"] > report["corpus"]["documents"]
    best = {query: hits[0]["id"] for query, hits in report["search"].items()}
    assert best["compute the median of a list of numbers"] == "statistics.median"
    assert best["copy a whole directory tree"] == "shutil.copytree"
    assert best["compress bytes with gzip"].startswith(("gzip.", "zlib."))
    evaluation = report["evaluation"]
    assert evaluation["vector"]["low"] <= evaluation["vector"]["value"] <= evaluation["vector"]["high"]
    assert evaluation["vector"]["value"] > 0.4 and evaluation["bm25"]["value"] > 0.3
    assert "data:image/png;base64," in (tmp_path / "eval" / "report.html").read_text()
    assert "adaptation" not in report and not (tmp_path / "adapted-model").exists()
    embeddings = read_embeddings(tmp_path / "embeddings.parquet")
    assert embeddings.vectors.shape == (report["corpus"]["documents"], 384)


@pytest.mark.slow
def test_demo_adapts_and_evaluates_on_held_out_queries(tmp_path: Path) -> None:
    report = run_demo(tmp_path, limit=300, console=_log(tmp_path))
    adaptation = report["adaptation"]
    assert adaptation["strategy"] == "finetune"  # 50 to 500 train pairs
    scores = adaptation["ndcg@10"]
    assert set(scores) == {"base", "adapted", "BM25"}
    assert all(0 < score["low"] <= score["value"] <= score["high"] <= 1 for score in scores.values())
    comparison = adaptation["adapted_vs_base"]
    assert comparison["difference"]["value"] == pytest.approx(scores["adapted"]["value"] - scores["base"]["value"])
    assert 0 < comparison["p_value"] <= 1
    assert (tmp_path / "adapt" / "report.html").is_file() and (tmp_path / "adapted-model" / "embedlab.json").is_file()
    train = (tmp_path / "benchmark" / "qrels" / "train.tsv").read_text().splitlines()[1:]
    test = (tmp_path / "benchmark" / "qrels" / "test.tsv").read_text().splitlines()[1:]
    assert not {row.split("\t")[0] for row in train} & {row.split("\t")[0] for row in test}
    assert len(test) == pytest.approx(0.3 * (len(train) + len(test)), abs=1)
