from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sentence_transformers import CrossEncoder

from embedlab import EmbeddingModel, Encoder, InputError
from embedlab.errors import IndexMismatchError
from embedlab.evaluate import RetrievalBenchmark, evaluate
from embedlab.index import Index, rrf, weighted
from embedlab.index.compact import PRECISIONS
from embedlab.models import describe

DOCS = [
    {"id": "cat", "text": "The cat sleeps on the warm windowsill.", "lang": "en"},
    {"id": "stock", "text": "Stock markets fell sharply after the announcement.", "lang": "en"},
    {"id": "chat", "text": "Le chat dort sur le rebord de la fenêtre.", "lang": "fr"},
    {"id": "bake", "text": "Preheat the oven before baking the bread.", "lang": "en"},
]


@pytest.fixture
def index(tmp_path: Path, encoder: Encoder, request: pytest.FixtureRequest) -> Index:
    """The four documents, with float32 search vectors unless the test takes ``precision`` (then each one)."""
    precision = request.getfixturevalue("precision") if "precision" in request.fixturenames else "float32"
    created = Index.create(tmp_path / "index", encoder, metadata_fields=["lang"], precision=precision)
    created.add(DOCS)
    return created


each_precision = pytest.mark.usefixtures("precision")  # the index fixture is built at each precision


@each_precision
def test_search_filters_and_min_score(index: Index) -> None:
    hits = index.search("Where is the kitten napping?", k=2)
    assert hits[0].doc_id == "cat"
    assert hits[0].metadata == {"lang": "en"} and hits[0].components["vector"] == hits[0].score
    assert [h.doc_id for h in index.search("kitten", k=3, filter="lang = 'fr'")] == ["chat"]
    best = index.search("Where is the kitten napping?", k=4)
    kept = index.search("Where is the kitten napping?", k=4, min_score=best[1].score)
    assert [h.doc_id for h in kept] == [h.doc_id for h in best[:2]]


@each_precision
def test_bm25_and_hybrid_report_their_components(index: Index) -> None:
    assert [h.doc_id for h in index.search("baking bread", k=3, mode="bm25")] == ["bake"]  # only term matches
    hybrid = index.search("stock markets", k=3, mode="hybrid")
    assert hybrid[0].doc_id == "stock"
    assert set(hybrid[0].components) == {"vector", "bm25"}
    assert hybrid[0].score == pytest.approx(2 / 61)  # first in both rankings: 1/(60+1) twice
    weighted_hits = index.search("stock markets", k=3, mode="hybrid", fusion="weighted", alpha=0.5)
    assert weighted_hits[0].score == pytest.approx(1.0)  # top of both normalised lists


@each_precision
def test_rerank_reorders_the_first_stage(index: Index, cross_encoder: CrossEncoder) -> None:
    query = "Where is the kitten napping?"
    plain = index.search(query, k=4)
    expected = cross_encoder.predict([(query, hit.text) for hit in plain])
    reranked = index.search(query, k=3, rerank=cross_encoder, rerank_top=4, rerank_fusion="replace")
    assert [h.doc_id for h in reranked] == [plain[i].doc_id for i in np.argsort(-expected, kind="stable")[:3]]
    assert [h.components["rerank"] for h in reranked] == pytest.approx(sorted(expected, reverse=True)[:3], abs=1e-5)
    english = index.search(query, k=4, rerank=cross_encoder, filter="lang = 'en'")
    assert sorted(h.doc_id for h in english) == ["bake", "cat", "stock"]


def test_upsert_delete_and_reopen(index: Index, precision: str, tmp_path: Path) -> None:
    index.add([{"id": "cat", "text": "A dog barks at the mailman.", "lang": "en"}])
    assert len(index) == 4 and index.info()["chunks"] == 4  # replaced, not duplicated
    assert index.search("dog barking", k=1)[0].doc_id == "cat"
    assert index.delete(["stock", "missing"]) == 1
    reopened = Index.open(tmp_path / "index")
    assert len(reopened) == 3
    assert reopened.search("dog barking", k=1)[0].text == "A dog barks at the mailman."
    assert reopened.info()["model"]["fingerprint"] == index.encoder.info.fingerprint
    assert reopened.info()["precision"] == reopened.info()["ann"]["precision"] == precision


def test_long_documents_map_back_to_their_parent(tmp_path: Path, encoder: Encoder) -> None:
    index = Index.create(tmp_path / "i", encoder, chunk_tokens=64, overlap=8)
    long_text = "Filler sentence about nothing in particular. " * 60 + "The secret ingredient is saffron."
    index.add([{"id": "recipe", "text": long_text, "title": "Paella"}, {"id": "other", "text": "Trains run late."}])
    assert index.info()["chunks"] > 5
    hit = index.search("What is the secret ingredient?", k=1)[0]
    assert hit.doc_id == "recipe" and "saffron" in hit.text and hit.chunk > 0
    index.add([{"id": "recipe", "text": "Now short."}])  # shrinking a document drops its old chunks
    assert index.info()["chunks"] == 2


def test_model_mismatch_is_refused_naming_both_models(index: Index, model: EmbeddingModel, tmp_path: Path) -> None:
    import copy

    import torch

    other_st = copy.deepcopy(model.st)
    with torch.no_grad():
        next(other_st.parameters()).add_(0.01)
    other = EmbeddingModel(other_st, describe(other_st, name="tuned-model"))
    with pytest.raises(IndexMismatchError, match=r"built with sentence-transformers/all-MiniLM-L6-v2 .* tuned-model"):
        Index.open(tmp_path / "index", other)
    with pytest.raises(IndexMismatchError, match="tuned-model"):
        index.add_vectors([{"id": "x", "text": "x"}], np.zeros((1, 384), np.float32), model=other.info)
    with pytest.raises(IndexMismatchError, match="dimension 384"):
        index.add_vectors([{"id": "x", "text": "x"}], np.zeros((1, 128), np.float32), model=model.info)


def test_precomputed_vectors_from_the_same_model(index: Index, encoder: Encoder) -> None:
    vector = encoder.encode(["A violin concerto in D major."])
    index.add_vectors([{"id": "music", "text": "A violin concerto in D major.", "lang": "en"}], vector,
                      model=encoder.info)  # fmt: skip
    assert index.search("classical music", k=1)[0].doc_id == "music"


def test_bad_documents(index: Index, tmp_path: Path, encoder: Encoder) -> None:
    with pytest.raises(InputError, match="no text"):
        index.add([{"id": "x", "text": "  "}])
    with pytest.raises(InputError, match="has no 'id'"):
        index.add([{"text": "no id"}])
    with pytest.raises(InputError, match="does not store"):
        index.add([{"id": "x", "text": "t", "author": "me"}])
    with pytest.raises(InputError, match="repeat"):
        index.add([{"id": "x", "text": "a"}, {"id": "x", "text": "b"}])
    with pytest.raises(InputError, match="already holds an index"):
        Index.create(tmp_path / "index", encoder)
    with pytest.raises(InputError, match="No embedlab index"):
        Index.open(tmp_path / "nothing")
    assert len(index) == 4  # nothing of the failed adds was written


STALL_S = 600  # seconds without a new document after which a writer is taken to hang


def _endless_adder(path: str) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    index = Index.open(path, ann=True)  # searching after each add keeps the accelerator busy (and saving)
    batch = 0
    while True:
        index.add([{"id": f"d{batch}-{i}", "text": f"document {i} of batch {batch}"} for i in range(50)])
        index.search(f"document 1 of batch {batch}", k=1)
        batch += 1


def wait_for_documents(path: Path, encoder: Encoder, count: int, writer: Any) -> None:
    """Until the index at ``path`` holds ``count`` documents; fail if ``writer`` exits or stalls first.

    No deadline: a loaded machine only makes the writer slower. A stall (no new document for
    :data:`STALL_S`, its start included) means it hangs.
    """
    seen, since = -1, time.monotonic()
    while (documents := len(Index.open(path, encoder))) < count:
        assert writer.is_alive(), f"the writer exited (code {writer.exitcode}) after {documents} documents"
        if documents != seen:
            seen, since = documents, time.monotonic()
        assert time.monotonic() - since < STALL_S, f"no document added for {STALL_S} s (at {documents})"
        time.sleep(0.2)


@pytest.mark.parametrize(
    "precision", [pytest.param(p, marks=() if p == "float32" else pytest.mark.slow) for p in PRECISIONS]
)  # a writer process of its own each (20-60 s on a loaded machine): the compressed ones in the slow suite
def test_killed_during_adds_loses_no_committed_document(tmp_path: Path, encoder: Encoder, precision: str) -> None:
    Index.create(tmp_path / "i", encoder, precision=precision).add([{"id": "seed", "text": "first"}])
    process = multiprocessing.get_context("spawn").Process(target=_endless_adder, args=(str(tmp_path / "i"),))
    process.start()
    try:
        wait_for_documents(tmp_path / "i", encoder, 151, process)
    finally:
        os.kill(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
        process.join()
    reopened = Index.open(tmp_path / "i", encoder)
    rows = reopened._table().to_arrow().column("row_id").to_pylist()
    assert len(rows) == len(set(rows))  # nothing duplicated
    documents = len(reopened)
    assert documents >= 151 and (documents - 1) % 50 == 0  # whole batches only
    assert reopened.search("document 3 of batch 0", k=1)[0].doc_id == "d0-3"
    reopened.add([{"id": "after", "text": "still writable"}])
    assert len(reopened) == documents + 1
    labels = reopened._table().to_arrow().column("label").to_pylist()
    assert len(labels) == len(set(labels)) and max(labels) < reopened.settings["next_label"]
    fast = Index.open(tmp_path / "i", encoder, ann=True, ef_search=4096)  # the accelerator agrees with LanceDB
    exact = Index.open(tmp_path / "i", encoder, ann=False)
    probes = ["document 3 of batch 0", "document 49 of batch 2", "still writable", "first"]
    every = {"rescore": documents + 1}  # a compressed structure re-scores every row: exact, whatever its codes
    for fast_hits, exact_hits in zip(fast.search_many(probes, k=5, **every), exact.search_many(probes, k=5),
                                     strict=True):  # fmt: skip
        assert [h.doc_id for h in fast_hits] == [h.doc_id for h in exact_hits]
        assert [h.score for h in fast_hits] == pytest.approx([h.score for h in exact_hits], abs=1e-5)
    assert fast.info()["ann"]["rows"] == documents + 1
    assert fast.info()["ann"]["precision"] == precision


def test_fusion_by_hand() -> None:
    fused = rrf([["a", "b", "c"], ["c", "a"]], k=1)
    assert fused == pytest.approx({"a": 1 / 2 + 1 / 3, "b": 1 / 3, "c": 1 / 4 + 1 / 2})
    mixed = weighted({"a": 0.9, "b": 0.5, "c": 0.1}, {"a": 2.0, "d": 10.0}, alpha=0.25)
    # vector side normalised to a=1, b=0.5, c=0; BM25 side a=0, d=1
    assert mixed == pytest.approx({"a": 0.25, "b": 0.125, "c": 0.0, "d": 0.75})
    with pytest.raises(ValueError, match="alpha"):
        weighted({}, {}, alpha=2)


@each_precision
def test_index_plugs_into_the_evaluation_suite(index: Index) -> None:
    bench = RetrievalBenchmark(
        corpus={d["id"]: d["text"] for d in DOCS},
        queries={"q1": "Where is the kitten napping?", "q2": "bread in an oven"},
        qrels={"q1": {"cat": 1}, "q2": {"bake": 1}},
    )
    for mode in ("vector", "bm25", "hybrid"):
        result = evaluate(index.search_fn(mode), bench)
        assert result.per_query["q2"]["mrr@10"] == 1.0, mode
    assert evaluate(index.search_fn("vector"), bench).mean["mrr@10"] == 1.0
    assert json.loads((Path(index.path) / "index.json").read_text())["metadata_fields"] == {"lang": "string"}


def test_cli_build_search_add_delete_info(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from embedlab.cli import app

    source = tmp_path / "docs.jsonl"
    source.write_text("\n".join(json.dumps(d) for d in DOCS), encoding="utf-8")
    runner = CliRunner()
    path = str(tmp_path / "idx")
    result = runner.invoke(app, ["index", "build", path, "-i", str(source), "--metadata-field", "lang"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["index", "search", path, "kitten", "-k", "1", "--filter", "lang = 'fr'", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["doc_id"] == "chat"
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"id": "new", "text": "A new violin recital.", "lang": "en"}), encoding="utf-8")
    assert runner.invoke(app, ["index", "add", path, "-i", str(more)]).exit_code == 0
    assert runner.invoke(app, ["index", "delete", path, "stock"]).exit_code == 0
    info = json.loads(runner.invoke(app, ["index", "info", path]).output)
    assert (info["documents"], info["metadata_fields"]) == (4, {"lang": "string"})
    result = runner.invoke(app, ["index", "search", path, "violin music", "-k", "2", "--mode", "hybrid"])
    assert result.exit_code == 0 and "new" in result.output


def test_unknown_search_option_is_named(index: Index) -> None:
    with pytest.raises(InputError, match=r"Unknown search option.*rerank_top"):
        index.search("cat", k=1, rerank_topp=3)


@pytest.mark.parametrize(("chunk_tokens", "overlap"), [(0, 0), (-1, 0), (8, 8), (8, -2)])
def test_a_bad_chunk_window_is_refused_at_create_and_writes_nothing(
    tmp_path: Path, encoder: Encoder, chunk_tokens: int, overlap: int
) -> None:
    # It used to be saved in index.json and fail only at the first add (chunk_tokens=0 meant "the default").
    with pytest.raises(InputError, match=r"max_tokens|overlap"):
        Index.create(tmp_path / "i", encoder, chunk_tokens=chunk_tokens, overlap=overlap)
    assert not (tmp_path / "i").exists()


def test_typed_metadata_with_missing_values_and_clear_type_errors(tmp_path: Path, encoder: Encoder) -> None:
    index = Index.create(tmp_path / "i", encoder, metadata_fields={"lang": "string", "year": "int"})
    index.add([{"id": "a", "text": "first text", "lang": None, "year": 2020}])  # a null first value
    index.add([{"id": "b", "text": "second text", "lang": "en", "year": "2021"}])  # "2021" is a whole number
    assert [h.doc_id for h in index.search("text", k=5, filter="year > 2020")] == ["b"]
    assert [h.doc_id for h in index.search("text", k=5, filter="lang = 'en'")] == ["b"]
    with pytest.raises(InputError, match=r"metadata 'year' = 2020.5 is not int"):
        index.add([{"id": "c", "text": "third", "year": 2020.5}])
    for value in ({"code": "en"}, ["en", "fr"]):  # used to be stored as the string "{'code': 'en'}"
        with pytest.raises(InputError, match=r"metadata 'lang' = .* is not string \(not a string, number or boolean"):
            index.add([{"id": "c", "text": "third", "lang": value}])
    with pytest.raises(InputError, match="Unknown metadata types"):
        Index.create(tmp_path / "j", encoder, metadata_fields={"x": "date"})
    with pytest.raises(InputError, match="filter"):
        index.search("text", k=1, filter="no_such_column = 1")
    with pytest.raises(InputError, match="k must be at least 1"):
        index.search("text", k=0)
    with pytest.raises(InputError, match="fusion must be"):
        index.search("text", k=1, mode="hybrid", fusion="bogus")


def test_add_vectors_validates_like_add(index: Index, encoder: Encoder) -> None:
    vectors = encoder.encode(["x", "y"])
    with pytest.raises(InputError, match="repeat"):
        index.add_vectors([{"id": "d", "text": "x"}, {"id": "d", "text": "y"}], vectors, model=encoder.info)
    with pytest.raises(InputError, match="no 'id'"):
        index.add_vectors([{"text": "x"}, {"id": "e", "text": "y"}], vectors, model=encoder.info)


def test_search_widens_until_it_has_k_documents(tmp_path: Path, encoder: Encoder) -> None:
    index = Index.create(tmp_path / "i", encoder, chunk_tokens=8, overlap=0)
    index.add([{"id": "long", "text": "cats and kittens playing " * 60}, {"id": "other", "text": "a kitten sleeps"}])
    hits = index.search("kitten", k=2, candidates=4)  # the long document's many chunks fill the first 16 rows
    assert {hit.doc_id for hit in hits} == {"long", "other"}
