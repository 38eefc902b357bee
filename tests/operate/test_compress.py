"""The compression planner on a benchmark built so that binary vectors need rescoring: a known answer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedlab import Encoder, InputError
from embedlab.evaluate import RetrievalBenchmark
from embedlab.index import Index
from embedlab.operate.compress import Setting, apply, grid, plan

from .conftest import write_beir

QUERIES = [
    "How do I reset my password?", "Symptoms of the flu in children", "Best time to plant tomatoes",
    "Train timetable from Rome to Milan", "How to bake sourdough bread", "Mortgage interest rates this year",
    "Why is the sky blue?", "Rules of chess for beginners", "Repair a flat bicycle tyre",
    "Symptoms of vitamin D deficiency", "Learn Python programming", "Cheap flights to Tokyo",
]  # fmt: skip


def known_answer(path: Path, encoder: Encoder) -> tuple[Index, RetrievalBenchmark]:
    """For each query: its relevant document (the query's vector with its 40 smallest coordinates' signs
    flipped: cosine ~0.999) and a decoy with exactly the query's signs but other magnitudes (cosine ~0.7).

    Binary codes without rescoring put every decoy first (Hamming 0 against 40): NDCG@10 1/log2(3) = 0.63.
    Re-scoring the 10 Hamming-nearest restores the relevant document first; int8 and float16 keep it first.
    """
    queries = encoder.encode(QUERIES)
    rng = np.random.default_rng(0)
    documents, vectors = [], []
    for i, query in enumerate(queries):
        relevant = query.copy()
        smallest = np.argsort(np.abs(query))[:40]
        relevant[smallest] *= -1
        decoy = np.sign(query) * rng.uniform(0.0, 1.0, query.shape)
        documents += [{"id": f"rel{i}", "text": f"relevant {i}"}, {"id": f"decoy{i}", "text": f"decoy {i}"}]
        vectors += [relevant / np.linalg.norm(relevant), decoy / np.linalg.norm(decoy)]
    index = Index.create(path, encoder)
    index.add_vectors(documents, np.asarray(vectors, np.float32), model=encoder.info)
    bench = RetrievalBenchmark(
        corpus={d["id"]: d["text"] for d in documents},
        queries={f"q{i}": text for i, text in enumerate(QUERIES)},
        qrels={f"q{i}": {f"rel{i}": 1} for i in range(len(QUERIES))},
    )
    return index, bench


def test_the_planner_picks_the_smallest_setting_that_keeps_the_target(tmp_path: Path, encoder: Encoder) -> None:
    index, bench = known_answer(tmp_path / "i", encoder)
    report = plan(index, bench, target=0.99, settings=grid(384, rescores=(0, 1)))
    by_label = {m.setting.label: m for m in report.measures}
    assert list(by_label) == ["float32/all x0", "float16/all x0", "float16/all x1", "int8/all x0", "int8/all x1",
                              "binary/all x0", "binary/all x1"]  # fmt: skip
    assert report.exact.value == pytest.approx(1.0)
    assert by_label["binary/all x0"].retained == pytest.approx(1 / np.log2(3))  # every decoy first
    assert by_label["float32/all x0"].recall == 1.0 and all(0 < m.recall <= 1 for m in report.measures)
    assert all(m.retained == pytest.approx(1.0) for label, m in by_label.items() if label != "binary/all x0")
    assert report.chosen is by_label["binary/all x1"]  # the least RAM that keeps 99%, the fewest re-scored
    memory = [by_label[f"{p}/all x1"].memory_bytes for p in ("float16", "int8", "binary")]
    assert memory == sorted(memory, reverse=True) and by_label["float32/all x0"].memory_bytes > memory[0]
    assert by_label["binary/all x1"].vector_bytes == 24 * 48 and by_label["float32/all x0"].vector_bytes == 24 * 1536
    assert json.loads(json.dumps(report.to_dict()))["chosen"]["setting"]["label"] == "binary/all x1"
    with pytest.raises(InputError, match="target must be"):
        plan(index, bench, target=1.5)


def test_apply_converts_in_place_without_reencoding(tmp_path: Path, encoder: Encoder) -> None:
    index, _ = known_answer(tmp_path / "i", encoder)
    before = index.chunk_vectors()[1]
    converted = apply(tmp_path / "i", Setting("binary", None, 1))
    info = json.loads((tmp_path / "i" / "index.json").read_text())
    assert (info["precision"], info["dims"], info["rescore"]) == ("binary", None, 1)
    assert np.array_equal(converted.chunk_vectors()[1], before)  # LanceDB's vectors untouched
    assert json.loads((tmp_path / "i" / "ann" / "ann.json").read_text())["precision"] == "binary"
    hits = converted.search_many(QUERIES, k=2)
    assert [found[0].doc_id for found in hits] == [f"rel{i}" for i in range(len(QUERIES))]
    compact_only = converted.search_many(QUERIES, k=2, rescore=0)  # the Hamming order: the decoys first
    assert [found[0].doc_id for found in compact_only] == [f"decoy{i}" for i in range(len(QUERIES))]
    back = apply(tmp_path / "i", Setting("float32", None, 0))  # and back: the saved binary graph is not reused
    assert back.info()["precision"] == "float32"
    assert [found[0].doc_id for found in back.search_many(QUERIES, k=1)] == [f"rel{i}" for i in range(len(QUERIES))]


@pytest.mark.slow  # the command line loads the model
def test_cli_plan_table_plot_and_apply(tmp_path: Path, encoder: Encoder) -> None:
    from embedlab.cli import app

    _, bench = known_answer(tmp_path / "i", encoder)
    folder = tmp_path / "bench"
    write_beir(bench, folder)
    out = tmp_path / "plan"
    args = ["compress", "plan", str(tmp_path / "i"), "--benchmark", str(folder), "--precision", "int8", "--precision",
            "binary", "--rescore", "0", "--rescore", "1", "--apply", "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "chosen: binary/all x1" in result.output and (out / "plan.png").stat().st_size > 1000
    assert json.loads((tmp_path / "i" / "index.json").read_text())["precision"] == "binary"
