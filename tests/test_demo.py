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


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    report = run_demo(tmp_path, console=Console(file=open(tmp_path / "log.txt", "w")))  # noqa: SIM115
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
    adaptation = report["adaptation"]
    assert adaptation["strategy"] in ("finetune", "hard-negatives")
    assert {"base", "adapted", "BM25"} == set(adaptation["ndcg@10"])
    assert (tmp_path / "adapt" / "report.html").is_file() and (tmp_path / "adapted-model" / "embedlab.json").is_file()
    embeddings = read_embeddings(tmp_path / "embeddings.parquet")
    assert embeddings.vectors.shape == (report["corpus"]["documents"], 384)
