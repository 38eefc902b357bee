"""Plan and build from the stored texts (an interrupted build resumes), compare, and the gate's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embedlab import EmbeddingModel, Encoder
from embedlab.encode.text import token_counts, with_title
from embedlab.errors import InputError
from embedlab.evaluate import load_beir
from embedlab.index import Index
from embedlab.operate.aliases import create_alias, read_alias
from embedlab.operate.compare import compare, save
from embedlab.operate.migrate import build, check_complete, plan, read_marker, stored_documents
from embedlab.operate.promote import GateError, gate, promote

from .conftest import documents, write_benchmark


@pytest.fixture(scope="module")
def old(model: EmbeddingModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("migrate") / "old"
    Index.build(folder, documents(), Encoder(model), metadata_fields=["topic"], chunk_tokens=8, overlap=2)
    return folder


def test_stored_documents_read_back_what_was_indexed(old: Path) -> None:
    back = list(stored_documents(old))
    assert back == sorted(documents(), key=lambda document: document["id"])  # texts, titles, metadata; chunks joined


def test_plan_counts_documents_and_tokens(old: Path, model: EmbeddingModel) -> None:
    found = plan(old, Encoder(model), sample=4)
    docs = documents()
    assert (found.documents, found.sample) == (24, 4)
    assert found.chunks == Index.open(old, Encoder(model)).info()["chunks"] > 24  # 8-token chunks
    assert found.tokens == sum(token_counts(model.st.tokenizer, [with_title(d.get("title"), d["text"]) for d in docs]))
    assert found.chunks_estimate > 0 and found.docs_per_s > 0 and found.disk_bytes > 0
    assert found.seconds == pytest.approx(found.sample_seconds / 4 * 24)


def test_interrupted_build_resumes_and_only_then_counts_as_complete(
    old: Path, perturbed_model: EmbeddingModel, model: EmbeddingModel, tmp_path: Path
) -> None:
    encoder = Encoder(perturbed_model)
    seen: list[int] = []

    def stop_after_two_batches(done: int, total: int) -> None:
        seen.append(done)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build(old, encoder, tmp_path / "new", batch=5, progress=stop_after_two_batches)
    assert len(Index.open(tmp_path / "new", encoder)) == 10 and read_marker(tmp_path / "new")["status"] == "building"
    with pytest.raises(InputError, match="half-built"):
        check_complete(tmp_path / "new")
    result = build(old, encoder, tmp_path / "new", batch=5)
    assert (result.documents, result.embedded) == (24, 14)  # the first 10 were kept, not embedded again
    check_complete(tmp_path / "new")
    new = Index.open(tmp_path / "new", encoder)
    assert new.settings["chunk_tokens"] == 8 and new.settings["metadata_fields"] == {"topic": "string"}
    hits = new.search("my kitty naps by the window", k=3, filter="topic = 'cat'")
    assert {hit.doc_id for hit in hits} == {"cat-0", "cat-1", "cat-2"}
    assert build(old, encoder, tmp_path / "new").embedded == 0  # complete: nothing to do
    with pytest.raises(InputError, match="another --out"):
        build(old, Encoder(model), tmp_path / "new")  # the bundled model: not the build's


def test_a_text_replaced_in_the_old_index_after_it_was_embedded_is_embedded_again(
    perturbed_model: EmbeddingModel, model: EmbeddingModel, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    Index.build(old, documents()[:6], Encoder(model), metadata_fields=["topic"])
    encoder = Encoder(perturbed_model)
    assert build(old, encoder, tmp_path / "new", batch=4).embedded == 6
    first = documents()[0]
    Index.open(old, Encoder(model)).add([{**first, "text": "A new text about volcanoes."}])  # same id, new text
    result = build(old, encoder, tmp_path / "new", batch=4)
    assert (result.documents, result.embedded) == (6, 1)  # only the replaced document
    assert next(d for d in stored_documents(tmp_path / "new") if d["id"] == first["id"])["text"] == (
        "A new text about volcanoes."
    )
    assert build(old, encoder, tmp_path / "new").embedded == 0


@pytest.mark.slow
def test_compare_and_gate(old: Path, perturbed_model: EmbeddingModel, model: EmbeddingModel, tmp_path: Path) -> None:
    bench = load_beir(write_benchmark(tmp_path / "bench"))
    built = build(old, Encoder(perturbed_model), tmp_path / "new").path
    alias = create_alias(tmp_path / "docs.alias.json", old)
    with pytest.raises(GateError, match="no comparison"):
        promote(alias, built)
    result = compare(Index.open(old, Encoder(model)), Index.open(built, Encoder(perturbed_model)), benchmark=bench,
                     queries=["cat food", "cat food", "rocket"], k=3, objective=None)  # fmt: skip
    path = save(result, tmp_path / "new" / "compare")
    assert json.loads(path.read_text())["kind"] == "embedlab-migration-compare"
    assert "disagree most" in path.with_name("report.html").read_text()
    quality = result["retrieval"]
    assert quality["queries"] == 16 and quality["old"]["ndcg@10"]["value"] > 0.8
    assert result["agreement"]["log"]["queries"] == 2  # repeated log queries count once
    assert result["agreement"]["benchmark"]["rbo"]["value"] > 0.8  # a nudged model ranks (nearly) alike
    assert gate(old, built, require_threshold=False).passed
    missing = gate(old, built)  # no threshold was calibrated (objective=None)
    assert not missing.passed and missing.failures[0].startswith("no calibrated threshold for the new index")
    # a comparison of other indexes does not open the gate
    verdict = gate(old, old, path, require_threshold=False)
    assert not verdict.passed and "compare these two again" in verdict.failures[0]
    state, passed = promote(alias, built, require_threshold=False)
    assert state.target == built.resolve() and passed.passed and read_alias(alias).previous == [old.resolve()]


def test_a_significantly_worse_index_is_refused_naming_the_figures(tmp_path: Path) -> None:
    fake = {"kind": "embedlab-migration-compare",
            "retrieval": {"benchmark": "b", "queries": 16,
                          "old": {"ndcg@10": {"value": 0.9, "low": 0.85, "high": 0.95}},
                          "new": {"ndcg@10": {"value": 0.3, "low": 0.2, "high": 0.4}},
                          "ndcg@10_test": {"difference": {"value": -0.6, "low": -0.7, "high": -0.5}, "p_value": 0.0001,
                                           "significant": True, "alpha": 0.05}}}  # fmt: skip
    for name in ("old", "new"):
        (tmp_path / name).mkdir()
        settings = {"model": {"name": name, "source": "path", "path": None, "fingerprint": name * 8, "dimension": 4},
                    "metadata_fields": []}  # fmt: skip
        (tmp_path / name / "index.json").write_text(json.dumps(settings))
        fake[name] = {"path": str((tmp_path / name).resolve()), "model": settings["model"]}
    (tmp_path / "compare.json").write_text(json.dumps(fake))
    verdict = gate(tmp_path / "old", tmp_path / "new", tmp_path / "compare.json", require_threshold=False)
    assert not verdict.passed
    assert verdict.failures == [
        "NDCG@10 is significantly worse on b (16 queries): new 0.3000 [0.2000, 0.4000] vs old 0.9000 [0.8500, "
        "0.9500], difference -0.6000 [-0.7000, -0.5000], p = 0.0001 < 0.05"
    ]
    assert np.isclose(verdict.figures["difference"], -0.6)


def test_a_build_killed_before_marking_its_new_index_resumes(old: Path, model: EmbeddingModel, tmp_path: Path) -> None:
    Index.create(tmp_path / "new", Encoder(model), metadata_fields=["topic"])  # what a build killed at once left
    assert build(old, Encoder(model), tmp_path / "new", batch=24).documents == 24
    (tmp_path / "other").mkdir()
    Index.create(tmp_path / "other" / "index", Encoder(model))  # someone else's empty index, no marker
    Index.open(tmp_path / "other" / "index", Encoder(model)).add([{"id": "x", "text": "a document of theirs"}])
    with pytest.raises(InputError, match="already holds an index"):
        build(old, Encoder(model), tmp_path / "other" / "index")
