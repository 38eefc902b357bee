"""Tuning query expansion on a benchmark: on where it is significantly better, off where it is not."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedlab import Encoder, InputError
from embedlab.evaluate import RetrievalBenchmark
from embedlab.index import Index
from embedlab.operate.expansion import measure_expansion, tune_expansion

from .conftest import write_beir

# each topic: a document with both words, and one with only the second (which expansion reaches from the first)
TOPICS = [("cats", "whiskers"), ("pianos", "melodies"), ("volcanoes", "lava"), ("rockets", "thrust"),
          ("bakeries", "dough"), ("glaciers", "icebergs"), ("bees", "honey"), ("lawyers", "courtrooms")]  # fmt: skip
DOCUMENTS = [
    *({"id": f"both{i}", "text": f"{first} and {second}"} for i, (first, second) in enumerate(TOPICS)),
    *({"id": f"only{i}", "text": f"{second} alone"} for i, (_, second) in enumerate(TOPICS)),
    *({"id": f"filler{i}", "text": f"filler {i}"} for i in range(8)),
]  # 24 rows: "and" is a stop word, "alone" (8 rows) and "filler" (8) too common to add; each second word in 2


def benchmark(relevant: str) -> RetrievalBenchmark:
    """Each topic's first word as a query; relevant: its ``only`` document (expansion helps) or ``both`` (it cannot)."""
    return RetrievalBenchmark(
        corpus={document["id"]: document["text"] for document in DOCUMENTS},
        queries={f"q{i}": first for i, (first, _) in enumerate(TOPICS)},
        qrels={f"q{i}": {f"{relevant}{i}": 1} for i in range(len(TOPICS))},
    )


@pytest.fixture
def index(tmp_path: Path, encoder: Encoder) -> Index:
    return Index.build(tmp_path / "index", DOCUMENTS, encoder)


def test_on_when_significantly_better(index: Index) -> None:
    decision = tune_expansion(index, benchmark("only"), modes=["bm25"])
    (trial,) = decision.trials
    # plain BM25 finds only the "both" document (NDCG 0); expanded, the relevant one comes second: 1/log2(3)
    assert (trial.without.value, trial.expanded.value) == (0.0, pytest.approx(1 / math.log2(3)))
    assert trial.test.p_value == pytest.approx(2 / 2**8)  # 8 equal gains: the exact two-sided randomisation p
    assert trial.helps and decision.setting == {"bm25": True}
    assert json.loads((index.path / "index.json").read_text())["expand"] == {"bm25": True}
    assert [hit.doc_id for hit in Index.open(index.path, index.encoder).search("cats", mode="bm25")] == [
        "both0",
        "only0",
    ]


def test_off_when_not_better_even_if_it_was_on(index: Index) -> None:
    tune_expansion(index, benchmark("only"), modes=["bm25"])
    decision = tune_expansion(index, benchmark("both"), modes=["bm25"])
    (trial,) = decision.trials
    assert trial.without.value == trial.expanded.value == 1.0 and trial.test.p_value == 1.0 and not trial.helps
    assert json.loads((index.path / "index.json").read_text())["expand"] == {"bm25": False}
    assert [hit.doc_id for hit in index.search("cats", mode="bm25")] == ["both0"]
    measured = tune_expansion(index, benchmark("only"), modes=["bm25"], apply=False)
    assert measured.setting == {"bm25": True} and index.settings["expand"] == {"bm25": False}  # measured only
    with pytest.raises(InputError, match="applies to the modes bm25 and hybrid; got \\['vector'\\]"):
        measure_expansion(index, benchmark("only"), modes=["vector"])


def test_cli_tunes_and_refuses_bad_input(tmp_path: Path, index: Index) -> None:
    from embedlab.cli import app

    bench, folder = benchmark("only"), tmp_path / "bench"
    write_beir(bench, folder)
    runner = CliRunner()
    result = runner.invoke(
        app, ["index", "tune-expansion", str(index.path), "--benchmark", str(folder), "--mode", "bm25"]
    )
    assert result.exit_code == 0, result.output
    assert "bm25: query expansion by default is now on: significantly better" in result.output
    assert json.loads((index.path / "index.json").read_text())["expand"] == {"bm25": True}
    searched = runner.invoke(
        app, ["index", "search", str(index.path), "cats", "--mode", "bm25", "--no-expand", "--json"]
    )
    assert searched.exit_code == 0 and [hit["doc_id"] for hit in json.loads(searched.output)] == ["both0"]
    vector = runner.invoke(app, ["index", "search", str(index.path), "cats", "--expand"])
    assert isinstance(vector.exception, InputError) and "mode bm25 or hybrid, not vector" in str(vector.exception)
    missing = runner.invoke(app, ["index", "tune-expansion", str(tmp_path / "nowhere"), "--benchmark", str(folder)])
    assert isinstance(missing.exception, InputError) and "No embedlab index" in str(missing.exception)
