"""An index built by a model may be searched with a faster variant of it that passed parity, and with nothing else."""

import json
import shutil

import numpy as np
import pytest

from embedlab import load_model
from embedlab.errors import IndexMismatchError
from embedlab.index import Index
from embedlab.registry import read_lineage, write_lineage
from tests.variants import QUERIES, TEXTS

DOCS = [{"id": str(i), "text": text} for i, text in enumerate(TEXTS)]


@pytest.fixture
def tiny_index(tmp_path, tiny_model):
    return Index.build(tmp_path / "idx", DOCS, tiny_model).path


def test_a_variant_that_passed_parity_searches_its_source_index_as_the_source_does(tiny_index, tiny_model, tiny_onnx):
    variant = load_model(tiny_onnx)
    assert variant.info.backend == "onnx" and variant.fingerprint != tiny_model.fingerprint
    own, fast = Index.open(tiny_index, tiny_model), Index.open(tiny_index, variant)
    declared = fast.info()["query_encoder"]
    parity = read_lineage(tiny_onnx).variant["parity"]
    assert declared["variant"]["kind"] == "onnx" and declared["backend"] == "onnx"
    assert declared["variant"]["source_fingerprint"] == tiny_model.fingerprint == fast.info()["model"]["fingerprint"]
    assert declared["text"] == (f"variant onnx of {tiny_model.fingerprint[:12]}, parity cosine "
                                f"{parity['cosine_mean']:.3f} top-10 {parity['top10_cross']:.2f}")  # fmt: skip
    assert own.info()["query_encoder"]["variant"] is None and "the index's model" in own.info()["query_encoder"]["text"]
    for query in QUERIES:
        assert [h.doc_id for h in fast.search(query, k=3)] == [h.doc_id for h in own.search(query, k=3)]
    assert np.allclose([h.score for h in fast.search(QUERIES[0])], [h.score for h in own.search(QUERIES[0])],
                       atol=1e-4)  # fmt: skip


def test_documents_come_from_the_index_model_only(tiny_index, tiny_model, tiny_onnx):
    fast = Index.open(tiny_index, tiny_onnx)
    with pytest.raises(IndexMismatchError, match=r"onnx variant of its model.*Open the index with its model"):
        fast.add([{"id": "new", "text": "A sailor steers the ship."}])
    assert len(Index.open(tiny_index)) == len(DOCS)  # nothing written
    Index.open(tiny_index, tiny_model).add([{"id": "new", "text": "A sailor steers the ship."}])
    assert len(Index.open(tiny_index, tiny_onnx)) == len(DOCS) + 1


def test_a_variant_of_another_model_is_refused(tmp_path, model, tiny_onnx):
    other = Index.build(tmp_path / "other", DOCS[:3], model).path  # built by the bundled model
    refusal = rf"comes from model \w{{12}}, but this index .* built with {model.fingerprint[:12]}: .*another space"
    with pytest.raises(IndexMismatchError, match=refusal):
        Index.open(other, tiny_onnx)


def test_a_variant_that_failed_parity_is_refused_with_its_figures(tmp_path, model, static_variant):
    index = Index.build(tmp_path / "idx", DOCS[:3], model).path  # the static variant's source
    with pytest.raises(IndexMismatchError, match=r"failed its parity.*another vector space \(other dimension\); "
                                                 r"own top-10 agreement 0\.\d+"):  # fmt: skip
        Index.open(index, static_variant)


def test_a_failed_parity_record_is_refused_with_its_figures(tmp_path, tiny_index, tiny_onnx):
    copy = shutil.copytree(tiny_onnx, tmp_path / "copy")
    lineage = read_lineage(copy)
    lineage.variant["parity"].update(min_cosine=1.5, passed=False)  # held to an impossible threshold
    write_lineage(copy, lineage)
    figures = r"mean cosine 1\.0000 .*needs >= 1\.5\), top-10 agreement 1\.000 \(needs >= 0\.9\) on 6 queries x 12"
    with pytest.raises(IndexMismatchError, match=f"failed its parity.*{figures}"):
        Index.open(tiny_index, copy)


def test_a_lineage_of_other_files_is_refused(tmp_path, tiny_index, tiny_onnx):
    copy = shutil.copytree(tiny_onnx, tmp_path / "copy")
    data = json.loads((copy / "embedlab.json").read_text())
    data["fingerprint"] = "0" * 64  # the files were rebuilt (or the lineage copied) since parity was measured
    (copy / "embedlab.json").write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match=r"lineage describes .* fingerprint 000000000000, but its files load"):
        Index.open(tiny_index, copy)


def test_a_static_model_indexes_whole_documents(tmp_path, static_variant):
    sentence = "The nurse cares for patients on the ward."
    long = f"{sentence} " * 100
    index = Index.build(tmp_path / "static", [{"id": "long", "text": long}, *DOCS[:3]], static_variant)
    assert index.info()["chunks"] == 4  # one chunk per document: a static model reads whole texts
    assert index.search(sentence, k=1)[0].doc_id == "long"  # the same mean of token vectors


def test_the_cli_searches_and_describes_an_index_through_a_variant(tiny_index, tiny_model, tiny_onnx):
    from typer.testing import CliRunner

    from embedlab.cli import app

    runner = CliRunner()
    described = runner.invoke(app, ["index", "info", str(tiny_index), "--model", str(tiny_onnx)])
    assert described.exit_code == 0, described.output
    assert json.loads(described.output)["query_encoder"]["text"].startswith("variant onnx of ")
    found = runner.invoke(app, ["index", "search", str(tiny_index), QUERIES[0], "-k", "3", "--json",
                                "--model", str(tiny_onnx)])  # fmt: skip
    assert found.exit_code == 0, found.output
    own = Index.open(tiny_index, tiny_model).search(QUERIES[0], k=3)
    assert [hit["doc_id"] for hit in json.loads(found.output)] == [hit.doc_id for hit in own]
    more = tiny_index.parent / "more.jsonl"
    more.write_text(json.dumps({"id": "new", "text": "A sailor steers the ship."}) + "\n", encoding="utf-8")
    added = runner.invoke(app, ["index", "add", str(tiny_index), "-i", str(more), "--model", str(tiny_onnx)])
    assert isinstance(added.exception, IndexMismatchError)  # `embedlab` prints it as "error: ..." with exit 2
    assert len(Index.open(tiny_index)) == len(DOCS)
