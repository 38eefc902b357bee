from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import embedlab
from embedlab import read_embeddings
from embedlab.demo import docstring_benchmark, run_demo, stdlib_docstrings
from embedlab.demo_jobs import job_title_benchmark, job_titles
from embedlab.demo_optimize import DEMO_OPTIMIZE
from embedlab.evaluate import load_beir
from embedlab.optimize import cpu_isa, has_vnni, read_variant


def test_corpus_is_the_standard_library() -> None:
    docs = stdlib_docstrings(("json", "gzip"))
    ids = {doc.id for doc in docs}
    assert {"json.loads", "json.dumps", "gzip.compress", "gzip.GzipFile.rewind"} <= ids
    assert all(doc.text == doc.text.strip() for doc in docs)


def test_the_docstring_benchmark_samples_query_document_pairs_by_seed() -> None:
    docs = stdlib_docstrings(("json", "gzip", "statistics"))
    full = docstring_benchmark(docs)
    sample = docstring_benchmark(docs, size=10, seed=1)
    assert len(sample.queries) == len(sample.corpus) == 10 and set(sample.corpus) < set(full.corpus)
    assert sample.qrels == {f"q:{doc}": {doc: 1} for doc in sample.corpus}
    assert (
        sample.corpus == docstring_benchmark(docs, size=10, seed=1).corpus != docstring_benchmark(docs, size=10).corpus
    )
    assert docstring_benchmark(docs, size=10_000).corpus == full.corpus


def _log(folder: Path) -> Console:
    return Console(file=open(folder / "log.txt", "w"))


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    """Steps 1-8 and 10 on the whole corpus; step 9 (adaptation, minutes) is tested on a slice below."""
    report = run_demo(tmp_path, adapt=False, console=_log(tmp_path))
    files = {path.name for path in tmp_path.iterdir()}
    assert {"embeddings.parquet", "corpus.jsonl", "report.json", "demo.png", "eval", "index", "optimize"} <= files
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
    _assert_optimize_step(report["optimize"], tmp_path, (tmp_path / "log.txt").read_text())
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
    report = run_demo(tmp_path, limit=50, occupations=40, optimize=False, console=_log(tmp_path))
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


def _assert_optimize_step(step: dict[str, Any], out: Path, log: str) -> None:
    """Step 8: the int8 variant against torch fp32 on 200 docstring pairs, its figures printed and saved."""
    assert step["queries"] == DEMO_OPTIMIZE["pairs"] and step["cpu"] == cpu_isa() and step["vnni"] == has_vnni()
    for name in ("torch", "onnx-int8"):
        ndcg = step[name]["ndcg@10"]
        assert 0.3 < ndcg["low"] <= ndcg["value"] <= ndcg["high"] <= 1
        assert step[name]["speed"]["docs_per_s"] > 0 and step[name]["speed"]["query_p50_ms"] > 0
    assert step["docs_speedup"] == pytest.approx(
        step["onnx-int8"]["speed"]["docs_per_s"] / step["torch"]["speed"]["docs_per_s"]
    )
    test = step["int8_vs_fp32"]
    assert test["difference"]["value"] == pytest.approx(
        step["onnx-int8"]["ndcg@10"]["value"] - step["torch"]["ndcg@10"]["value"]
    )
    parity = step["parity"]
    assert parity["passed"] and parity["cosine_mean"] >= 0.99 and parity["top10_cross"] >= 0.9
    assert parity["documents"] == DEMO_OPTIMIZE["parity_docs"] and parity["queries"] == DEMO_OPTIMIZE["parity_queries"]
    results = json.loads((out / "optimize" / "results.json").read_text())
    assert [c["kind"] for c in results["candidates"]] == ["torch", "onnx-int8"]
    assert "data:image/png;base64," in (out / "optimize" / "report.html").read_text()
    assert read_variant(step["onnx-int8"]["path"]).kind == "onnx-int8"  # the variant stays, with its lineage
    assert f"variants on this CPU ({cpu_isa()})" in log and "int8 vs fp32: documents" in log
    assert "parity with the source (passes): mean cosine" in log
    assert ("int8 gains need VNNI" in log) != step["vnni"]
