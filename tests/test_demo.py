from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

import embedlab
from embedlab import read_embeddings
from embedlab.demo import run_demo, stdlib_docstrings
from embedlab.demo_jobs import job_title_benchmark, job_titles
from embedlab.evaluate import load_beir


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


def test_the_job_title_sample_ships_with_the_package_and_splits_by_label(tmp_path: Path) -> None:
    rows = job_titles()
    assert len(rows) == 800 and all(len(row["labels"]) >= 3 for row in rows)
    assert (Path(embedlab.__file__).parent / "data" / "ESCO-ATTRIBUTION.md").read_text().count("CC BY 4.0") >= 1
    folder = job_title_benchmark(tmp_path / "jobs", occupations=20)
    train, test = load_beir(folder, split="train"), load_beir(folder, split="test")
    assert len(test.corpus) == 20 and not set(train.qrels) & set(test.qrels)
    labels = sum(len(row["labels"]) for row in rows[:20])
    assert len(train.qrels) + len(test.qrels) == labels and len(test.qrels) == pytest.approx(0.3 * labels, abs=10)
    # every occupation is asked for in both splits: the test asks for it under names not trained on
    assert (
        {d for q in test.qrels.values() for d in q} == {d for q in train.qrels.values() for d in q} == set(test.corpus)
    )


@pytest.mark.slow
def test_demo_adapts_to_job_titles_and_evaluates_on_held_out_titles(tmp_path: Path) -> None:
    report = run_demo(tmp_path, limit=50, occupations=40, console=_log(tmp_path))
    adaptation = report["adaptation"]
    scores = adaptation["ndcg@10"]
    assert set(scores) == {"base", "adapted", "BM25"}
    assert all(0 < score["low"] <= score["value"] <= score["high"] <= 1 for score in scores.values())
    comparison = adaptation["adapted_vs_base"]
    assert comparison["difference"]["value"] == pytest.approx(scores["adapted"]["value"] - scores["base"]["value"])
    assert 0 < comparison["p_value"] <= 1
    assert adaptation["decision"]["keep"] == ("adapted" if comparison["verdict"] == "better" else "base")
    assert (tmp_path / "adapt" / "report.html").is_file()
    model = tmp_path / ("adapted-model" if adaptation["decision"]["keep"] == "adapted" else "adapt/adapted-model")
    assert (model / "embedlab.json").is_file()
    train = (tmp_path / "jobs" / "qrels" / "train.tsv").read_text().splitlines()[1:]
    test = (tmp_path / "jobs" / "qrels" / "test.tsv").read_text().splitlines()[1:]
    assert not {row.split("\t")[0] for row in train} & {row.split("\t")[0] for row in test}
    assert len(train) == adaptation["train_queries"] and len(test) == adaptation["test_queries"]
