"""Compressed search vectors: rescoring is exact on its candidates, int8 ranges persist, bad settings are refused."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedlab import Encoder, InputError
from embedlab.index import Index
from embedlab.index.compact import CALIBRATION_MIN_ROWS, TruncationWarning, check
from embedlab.index.hnsw import AnnIndex
from embedlab.registry import Lineage, write_lineage

EXHAUSTIVE = 4096


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize(("precision", "dims"), [("float16", None), ("int8", None), ("binary", None), ("float32", 64),
                                                 ("binary", 128)])  # fmt: skip
def test_rescoring_restores_the_exact_order_of_the_candidates_it_sees(precision: str, dims: int | None) -> None:
    vectors = unit(np.random.default_rng(0).standard_normal((300, 384)))
    graph = AnnIndex(384, precision=precision, dims=dims)
    graph.add(np.arange(300) + 1000, vectors)
    for query in unit(np.random.default_rng(1).standard_normal((5, 384))):
        _, pool = graph.search(query, 5 * 3, EXHAUSTIVE, rescore=0)  # the candidates, in the compact order
        scores, positions = graph.search(query, 5, EXHAUSTIVE, rescore=3)
        exact = vectors[pool] @ query
        expected = pool[np.argsort(-exact, kind="stable")[:5]]
        assert positions.tolist() == expected.tolist()
        assert scores == pytest.approx(vectors[positions] @ query, abs=1e-6)


def test_binary_scores_without_rescoring_are_the_cosines_of_the_signs() -> None:
    graph = AnnIndex(8, precision="binary")
    graph.add(np.array([7, 8]), np.array([[1, 1, 1, 1, -1, -1, -1, -1], [1, 2, 3, 4, 5, 6, 7, 8]], np.float32))
    scores, positions = graph.search(np.ones(8, np.float32), 2, 16, rescore=0)
    assert graph.labels[positions].tolist() == [8, 7]
    assert scores.tolist() == [1.0, 0.0]  # Hamming 0 and 4 of 8 bits: 1 - 2 * h / 8
    assert graph.memory() > 2 and graph.full is not None and len(graph.full) == 2


def test_int8_ranges_are_kept_in_index_json_and_reused(tmp_path: Path, encoder: Encoder) -> None:
    vectors = unit(np.random.default_rng(2).standard_normal((CALIBRATION_MIN_ROWS, 384)))
    index = Index.create(tmp_path / "i", encoder, precision="int8")
    index.add_vectors([{"id": f"d{i}", "text": f"doc {i}"} for i in range(len(vectors))], vectors, model=encoder.info)
    assert index.search_vectors(vectors[3], 1)[0][0].doc_id == "d3"
    stored = json.loads((tmp_path / "i" / "index.json").read_text())["calibration"]
    assert stored[:384] == pytest.approx(vectors.min(axis=0), abs=1e-6)  # faiss' min/max ranges: mins, then widths
    assert stored[384:] == pytest.approx(vectors.max(axis=0) - vectors.min(axis=0), abs=1e-6)
    shutil.rmtree(tmp_path / "i" / "ann")  # rebuilt from LanceDB with the same ranges, not new ones
    index.add_vectors([{"id": "big", "text": "out of range"}], unit(np.full((1, 384), 1.0)), model=encoder.info)
    reopened = Index.open(tmp_path / "i", encoder)
    assert reopened.search_vectors(vectors[7], 1, rescore=0)[0][0].doc_id == "d7"
    assert reopened._accelerator.graph is not None and reopened._accelerator.graph.calibration == stored
    info = reopened.info()
    assert (info["precision"], info["dims"], info["ann"]["precision"]) == ("int8", None, "int8")


def test_an_int8_index_first_searched_small_is_calibrated_once_it_has_grown(tmp_path: Path, encoder: Encoder) -> None:
    # Its ranges were calibrated on the rows of its first search, here one: every width 0, so every later
    # vector got the same code, and the compact search returned arbitrary rows (so did rescoring their few).
    vectors = unit(np.random.default_rng(6).standard_normal((CALIBRATION_MIN_ROWS, 384)))
    documents = [{"id": f"d{i}", "text": f"doc {i}"} for i in range(len(vectors))]
    index = Index.create(tmp_path / "i", encoder, precision="int8")
    index.add_vectors(documents[:1], vectors[:1], model=encoder.info)
    assert index.search_vectors(vectors[0], 1)[0][0].doc_id == "d0"  # the structure is built on one row
    index.add_vectors(documents[1:60], vectors[1:60], model=encoder.info)
    found = [hits[0].doc_id for hits in index.search_vectors(vectors[:60], 1, rescore=0)]  # the int8 codes alone
    assert found == [f"d{i}" for i in range(60)]
    settings = tmp_path / "i" / "index.json"
    assert "calibration" not in json.loads(settings.read_text())  # the fixed range [-1, 1] so far
    index.add_vectors(documents[60:], vectors[60:], model=encoder.info)
    assert index.search_vectors(vectors[500], 1, rescore=0)[0][0].doc_id == "d500"
    stored = json.loads(settings.read_text())["calibration"]  # calibrated once it had enough rows
    assert stored[:384] == pytest.approx(vectors.min(axis=0), abs=1e-6)
    assert index._accelerator.graph is not None and index._accelerator.graph.calibration == stored


def test_bad_settings_are_refused_before_anything_is_written(tmp_path: Path, encoder: Encoder) -> None:
    with pytest.raises(InputError, match="precision must be one of float32, float16, int8, binary; got 'int4'"):
        Index.create(tmp_path / "a", encoder, precision="int4")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="dims must be between 1 and the model's dimension 384; got 512"):
        Index.create(tmp_path / "a", encoder, dims=512)
    with pytest.raises(InputError, match="multiple of 8 dimensions; got 100"):
        Index.create(tmp_path / "a", encoder, precision="binary", dims=100)
    assert not (tmp_path / "a").exists()
    with pytest.warns(TruncationWarning, match="not trained with Matryoshka dimensions including 128"):
        index = Index.create(tmp_path / "b", encoder, dims=128)  # allowed, with a warning: measure it first
    index.add([{"id": "x", "text": "a cat"}])
    with pytest.raises(InputError, match="rescore must be at least 0, got -1"):
        index.search("cat", k=1, rescore=-1)


def test_a_matryoshka_model_truncates_without_a_warning(tmp_path: Path) -> None:
    write_lineage(
        tmp_path, Lineage(method="finetune", base="b", base_fingerprint="f", params={"matryoshka_dims": [384, 128]})
    )
    model = {"name": "mine", "path": str(tmp_path), "dimension": 384}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check("binary", 128, model) == ("binary", 128)
        assert check("int8", 384, model) == ("int8", None)  # all dimensions: no truncation


@pytest.mark.slow  # the command line loads the model once per command
def test_cli_builds_a_compressed_index(tmp_path: Path) -> None:
    from embedlab.cli import app

    source = tmp_path / "docs.jsonl"
    texts = ["A cat sleeps.", "Stocks fell.", "Bake the bread."]
    source.write_text("\n".join(json.dumps({"id": str(i), "text": t}) for i, t in enumerate(texts)), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["index", "build", str(tmp_path / "i"), "-i", str(source), "--precision", "binary"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["index", "search", str(tmp_path / "i"), "kitten", "-k", "1", "--rescore", "2", "--json"]
    )
    assert result.exit_code == 0 and json.loads(result.output)[0]["doc_id"] == "0", result.output
    info = json.loads(runner.invoke(app, ["index", "info", str(tmp_path / "i")]).output)
    assert (info["precision"], info["dims"], info["ann"]["precision"]) == ("binary", None, "binary")
    result = runner.invoke(app, ["index", "build", str(tmp_path / "j"), "-i", str(source), "--precision", "int4"])
    assert isinstance(result.exception, InputError) and "precision must be one of" in str(result.exception)
    assert not (tmp_path / "j").exists()  # refused before the folder was claimed (main() prints it, exit code 2)


def test_the_server_takes_the_rescore_option() -> None:
    from pydantic import ValidationError

    from embedlab.serve.app import SearchRequest

    assert SearchRequest(index="i", query="q", rescore=2).rescore == 2  # type: ignore[call-arg]
    assert SearchRequest(index="i", query="q").rescore is None  # type: ignore[call-arg]  # the index's own setting
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        SearchRequest(index="i", query="q", rescore=-1)  # type: ignore[call-arg]


def test_a_rescore_beyond_the_rows_re_scores_every_row(tmp_path: Path, encoder: Encoder) -> None:
    # The multiplier was capped at rows // k: 12 rows, k=5 re-scored 10 candidates however many were asked for,
    # and the two worst by Hamming distance were never seen, here the relevant document.
    query = unit(np.random.default_rng(4).standard_normal((1, 384)))[0]
    relevant = query.copy()
    relevant[np.argsort(np.abs(query))[:40]] *= -1  # cosine ~0.99, 40 bits from the query
    decoys = np.sign(query) * np.random.default_rng(5).uniform(0, 1, (11, 384))  # the query's bits, cosine ~0.85
    index = Index.create(tmp_path / "i", encoder, precision="binary")
    documents = [{"id": "relevant", "text": "r"}, *({"id": f"decoy{i}", "text": "d"} for i in range(11))]
    index.add_vectors(documents, unit(np.vstack([relevant, decoys])), model=encoder.info)
    assert index.search_vectors(query, 5, rescore=1)[0][0].doc_id.startswith("decoy")  # 5 candidates: decoys only
    hits = index.search_vectors(query, 5, rescore=100)[0]
    assert hits[0].doc_id == "relevant" and hits[0].score == pytest.approx(float(unit(relevant[None])[0] @ query))
