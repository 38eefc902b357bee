"""The ANN accelerator answers as LanceDB's exact search does, through upserts, deletes, reopening,
stale and corrupt saved graphs, filters, and indexes made before rows had labels."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from embedlab import Encoder, InputError
from embedlab.errors import IndexMismatchError
from embedlab.index import Index
from embedlab.index import ann as ann_module
from embedlab.index.compact import Precision
from embedlab.index.hnsw import AnnIndex, AnnRebuildWarning, crc32, full_path

EXHAUSTIVE = 4096  # ef_search above the row count: the graph search visits every row, so it is exact


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def make_index(
    path: Path, encoder: Encoder, n: int = 300, seed: int = 0, precision: Precision = "float32"
) -> tuple[Index, np.ndarray]:
    """An accelerated index of ``n`` documents with random vectors; ``group`` is i % 5, ``lang`` en/fr."""
    index = Index.create(path, encoder, metadata_fields={"group": "int", "lang": "string"}, ann=True,
                         ef_search=EXHAUSTIVE, precision=precision)  # fmt: skip
    vectors = unit(np.random.default_rng(seed).standard_normal((n, 384)))
    add(index, encoder, range(n), vectors)
    return index, vectors


def add(index: Index, encoder: Encoder, ids: range | list[int], vectors: np.ndarray, tag: str = "") -> None:
    documents = [{"id": f"d{i}", "text": f"document {i}{tag}", "group": i % 5, "lang": "fr" if i % 7 == 0 else "en"}
                 for i in ids]  # fmt: skip
    index.add_vectors(documents, vectors, model=encoder.info)


def agree(path: Path, encoder: Encoder, queries: np.ndarray, k: int = 10, **options: object) -> list[list[str]]:
    """Search ``path`` with and without the accelerator; assert the same documents and scores; return them.

    A compressed structure re-scores every row (``rescore``) with the full vectors it keeps, so it is exact
    too, whatever its codes: what this checks is that its positions, labels, tombstones and full vectors
    stay in step with the table.
    """
    fast = Index.open(path, encoder, ann=True, ef_search=EXHAUSTIVE)
    exact = Index.open(path, encoder, ann=False)
    found = []
    for fast_hits, exact_hits in zip(
        fast.search_vectors(queries, k, rescore=EXHAUSTIVE, **options),
        exact.search_vectors(queries, k, **options),
        strict=True,
    ):
        assert [h.doc_id for h in fast_hits] == [h.doc_id for h in exact_hits]
        assert [h.score for h in fast_hits] == pytest.approx([h.score for h in exact_hits], abs=1e-5)
        assert [(h.text, h.chunk, h.metadata) for h in fast_hits] == [(h.text, h.chunk, h.metadata) for h in exact_hits]
        found.append([h.doc_id for h in fast_hits])
    assert fast.info()["ann"]["active"] and not exact.info()["ann"]["active"]
    return found


def queries(count: int = 8, seed: int = 1) -> np.ndarray:
    return unit(np.random.default_rng(seed).standard_normal((count, 384)))


def labels_of(index: Index) -> list[int]:
    return sorted(index._table().to_arrow().column("label").to_pylist())


def test_accelerated_search_equals_exact_search(tmp_path: Path, encoder: Encoder, precision: Precision) -> None:
    make_index(tmp_path / "i", encoder, precision=precision)
    agree(tmp_path / "i", encoder, queries())
    agree(tmp_path / "i", encoder, queries(), k=3, candidates=5)  # widening: fewer candidates than documents wanted
    fast = Index.open(tmp_path / "i", encoder, ann=True, ef_search=EXHAUSTIVE)
    exact = Index.open(tmp_path / "i", encoder, ann=False)
    for mode in ("vector", "hybrid"):
        fast_hits = fast.search("document 7", k=5, mode=mode, rescore=EXHAUSTIVE)
        exact_hits = exact.search("document 7", k=5, mode=mode)
        assert [(h.doc_id, h.components.keys()) for h in fast_hits] == [
            (h.doc_id, h.components.keys()) for h in exact_hits
        ]
        assert [h.score for h in fast_hits] == pytest.approx([h.score for h in exact_hits], abs=1e-5)
    assert [h.doc_id for h in fast.similar("d3", k=5)] == [h.doc_id for h in exact.similar("d3", k=5)]


def test_upsert_delete_and_reopen_keep_accelerator_and_lancedb_in_agreement(
    tmp_path: Path, encoder: Encoder, precision: Precision
) -> None:
    path = tmp_path / "i"
    index, vectors = make_index(path, encoder, precision=precision)
    probe = queries()
    index.search_vectors(probe[:1])  # builds the graph
    moved = unit(probe[:1] + 0.01)  # d5's new vector: the best match of the first query
    add(index, encoder, [5], moved, tag=" (new)")
    hits = index.search_vectors(probe[:1], k=10)[0]
    assert hits[0].doc_id == "d5" and hits[0].text == "document 5 (new)"
    assert [h.doc_id for h in hits].count("d5") == 1
    assert index.delete(["d5", "d6", "d7"]) == 3
    assert not {"d5", "d6", "d7"} & {h.doc_id for found in index.search_vectors(probe, k=20) for h in found}
    assert index.info()["ann"]["dead"] == 4  # d5's first and second vectors, d6, d7: tombstones
    assert len(labels_of(index)) == len(set(labels_of(index))) == 297
    assert max(labels_of(index)) < index.settings["next_label"] == 301  # labels are never reused
    agree(path, encoder, probe)
    agree(path, encoder, vectors[:4])  # stored vectors as queries: each finds its own document first


def test_long_documents_collapse_to_their_parent_through_the_accelerator(
    tmp_path: Path, encoder: Encoder, precision: Precision
) -> None:
    index = Index.create(tmp_path / "i", encoder, chunk_tokens=16, overlap=0, ann=True, ef_search=EXHAUSTIVE,
                         precision=precision)  # fmt: skip
    index.add([
        {"id": "long", "text": "Filler about nothing. " * 30 + "The secret ingredient is saffron."},
        {"id": "other", "text": "Trains run late on Sundays."},
        {"id": "third", "text": "Bread needs flour, water, salt and yeast."},
    ])  # fmt: skip
    hit = index.search("What is the secret ingredient?", k=1)[0]
    assert hit.doc_id == "long" and "saffron" in hit.text and hit.chunk > 0
    assert {h.doc_id for h in index.search("saffron", k=3, candidates=2)} == {"long", "other", "third"}  # widened
    index.add([{"id": "long", "text": "Now short."}])  # the old chunks become tombstones
    assert index.info()["chunks"] == 3
    agree(tmp_path / "i", encoder, queries(4), k=3)


def test_another_writer_is_seen_before_the_next_search(tmp_path: Path, encoder: Encoder, precision: Precision) -> None:
    reader, _ = make_index(tmp_path / "i", encoder, n=50, precision=precision)
    probe = queries(1)
    reader.search_vectors(probe)
    writer = Index.open(tmp_path / "i", encoder, ann=False)  # another handle: its commits are another process's
    add(writer, encoder, [1000], probe, tag=" (from the writer)")
    assert reader.search_vectors(probe, k=1)[0][0].doc_id == "d1000"
    writer.delete(["d1000"])
    assert reader.search_vectors(probe, k=1)[0][0].doc_id != "d1000"


def test_stale_saved_graph_catches_up_on_reopen(tmp_path: Path, encoder: Encoder, precision: Precision) -> None:
    path = tmp_path / "i"
    index, _ = make_index(path, encoder, precision=precision)
    assert index.sync_ann().saved
    shutil.copytree(path / "ann", tmp_path / "old-ann")
    add(index, encoder, range(300, 340), unit(np.random.default_rng(5).standard_normal((40, 384))))
    add(index, encoder, [3], queries(1, seed=9), tag=" (new)")
    index.delete(["d4"])
    index.sync_ann()  # saved again, with the new rows
    shutil.rmtree(path / "ann")
    shutil.copytree(tmp_path / "old-ann", path / "ann")  # as if the last saves had never happened
    reopened = Index.open(path, encoder, ann=True, ef_search=EXHAUSTIVE)
    report = reopened.sync_ann()
    assert not report.rebuilt and (report.added, report.removed) == (41, 2)  # 40 new + d3's new row; d3, d4
    found = agree(path, encoder, queries(6))
    assert "d4" not in {doc for docs in found for doc in docs}


@pytest.mark.parametrize("damage", ["garbage", "truncated", "json", "other-vectors", "full-vectors"])
def test_unusable_saved_graph_warns_and_is_rebuilt(
    tmp_path: Path, encoder: Encoder, damage: str, precision: Precision
) -> None:
    if damage == "full-vectors" and precision == "float32":
        pytest.skip("a float32 graph keeps no full vectors apart: it holds them")
    path = tmp_path / "i"
    index, _ = make_index(path, encoder, n=120, precision=precision)
    index.sync_ann()
    meta = json.loads((path / "ann" / "ann.json").read_text())
    graph_file = path / "ann" / meta["file"]
    if damage == "garbage":
        graph_file.write_bytes(b"not a faiss file" * 100)
    elif damage == "truncated":
        graph_file.write_bytes(graph_file.read_bytes()[:1000])
    elif damage == "json":
        (path / "ann" / "ann.json").write_text("{broken")
    elif damage == "full-vectors":  # a compressed graph's re-scoring vectors, lost (the graph file copied alone)
        full_path(graph_file).unlink()
    else:  # a well-formed graph, right checksums, same labels, other vectors (labels reused by mistake)
        loaded = AnnIndex.read(graph_file, 384, precision)
        fake = AnnIndex(384, precision=precision)
        fake.add(loaded.labels, np.random.default_rng(3).standard_normal((loaded.size, 384)).astype(np.float32))
        fake.write(graph_file)
        meta.update(size=graph_file.stat().st_size, crc32=crc32(graph_file))
        if fake.full is not None:
            meta.update(full_size=full_path(graph_file).stat().st_size, full_crc32=crc32(full_path(graph_file)))
        (path / "ann" / "ann.json").write_text(json.dumps(meta))
    reopened = Index.open(path, encoder, ann=True, ef_search=EXHAUSTIVE)
    with pytest.warns(AnnRebuildWarning, match="rebuilt"):
        hits = reopened.search_vectors(queries(1), k=5)[0]
    assert len(hits) == 5 and reopened.info()["ann"]["rows"] == 120
    agree(path, encoder, queries(4))  # and the rebuilt graph was saved: no warning any more


def test_filters_and_min_score_through_the_accelerator(tmp_path: Path, encoder: Encoder, precision: Precision) -> None:
    path = tmp_path / "i"
    make_index(path, encoder, precision=precision)
    probe = queries(6)
    for condition in ("group = 2", "lang = 'fr'", "group >= 1 AND lang = 'en'", "group = 99"):
        found = agree(path, encoder, probe, filter=condition)
        assert condition != "group = 99" or found == [[]] * len(probe)
    best = Index.open(path, encoder, ann=True).search_vectors(probe[:1], k=10, rescore=EXHAUSTIVE)[0]
    kept = agree(path, encoder, probe[:1], min_score=(best[3].score + best[4].score) / 2)  # not at a score: they
    # come from other code (faiss, numpy, LanceDB) and may differ in the last bit
    assert kept == [[h.doc_id for h in best[:4]]]
    with pytest.raises(InputError, match="filter"):
        Index.open(path, encoder, ann=True).search_vectors(probe[:1], filter="no_such_column = 1")


def test_filtered_graph_search_stays_in_the_allowed_rows() -> None:
    rng = np.random.default_rng(0)
    vectors = unit(rng.standard_normal((2000, 8)))
    graph = AnnIndex(8)
    graph.add(np.arange(10_000, 12_000), vectors)
    graph.set_live(np.arange(0, 2000, 10), False)  # tombstones too
    allowed = np.arange(0, 2000, 2)[:800]
    live_allowed = allowed[graph.live[allowed]]
    for query in unit(rng.standard_normal((20, 8))):
        scores, positions = graph.search(query, 10, ef=16, allowed=allowed)  # 720**2 > 16*32*1800: graph walk
        exact = live_allowed[np.argsort(-(vectors[live_allowed] @ query))[:10]]
        assert set(positions) <= set(live_allowed) and list(scores) == sorted(scores, reverse=True)
        assert len(set(positions) & set(exact)) >= 9
        few = np.array([1, 3, 5, 10])  # fewer allowed than k: scored exactly, the dead one (10) left out
        assert sorted(graph.search(query, 10, ef=16, allowed=few)[1].tolist()) == [1, 3, 5]
    _, everything = graph.search(unit(rng.standard_normal((1, 8)))[0], 2000, ef=2000)
    assert len(everything) == 1800 and not set(everything) & set(range(0, 2000, 10))


def test_index_made_before_labels_gets_them_on_open(tmp_path: Path, encoder: Encoder) -> None:
    path = tmp_path / "i"
    index, _ = make_index(path, encoder, n=40)
    index._table().drop_columns(["label"])  # as written by the previous embedlab
    settings = json.loads((path / "index.json").read_text())
    del settings["next_label"], settings["ann"]
    (path / "index.json").write_text(json.dumps(settings))
    old = Index.open(path, encoder)
    assert old.ann == "auto" and len(labels_of(old)) == len(set(labels_of(old))) == 40
    add(old, encoder, [100], queries(1))
    assert labels_of(old)[-1] == 40 and len(old) == 41
    agree(path, encoder, queries(4))
    assert old.search("document 3", k=2, mode="bm25")[0].doc_id == "d3"  # full-text still works


def test_auto_turns_on_with_size_and_options_are_checked(
    tmp_path: Path, encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = Index.create(tmp_path / "i", encoder, metadata_fields={"group": "int", "lang": "string"}, ann="auto")
    add(index, encoder, range(20), queries(20))
    index.search_vectors(queries(1))
    assert not index.info()["ann"]["active"]  # 20 rows: LanceDB's exact scan
    monkeypatch.setattr(ann_module, "ANN_AUTO_ROWS", 10)
    assert not Index.open(tmp_path / "i", encoder, ann=False).info()["ann"]["active"]
    reopened = Index.open(tmp_path / "i", encoder)
    reopened.search_vectors(queries(1))
    assert reopened.info()["ann"]["active"] and reopened.info()["ann"]["rows"] == 20
    with pytest.raises(InputError, match="ann must be"):
        Index.create(tmp_path / "j", encoder, ann="yes")  # type: ignore[arg-type]
    assert not (tmp_path / "j").exists() or not any((tmp_path / "j").iterdir())
    with pytest.raises(InputError, match="ef_search"):
        Index.open(tmp_path / "i", encoder, ef_search=0)
    with pytest.raises(InputError, match="off"):
        Index.open(tmp_path / "i", encoder, ann=False).sync_ann()
    with pytest.raises(IndexMismatchError, match="dimension 384"):
        reopened.search_vectors(np.zeros((1, 12), np.float32))
    with pytest.raises(InputError, match="rerank"):
        reopened.search_vectors(queries(1), rerank="some-model")


def test_compaction_drops_tombstones(tmp_path: Path, encoder: Encoder, precision: Precision) -> None:
    path = tmp_path / "i"
    index, _ = make_index(path, encoder, n=100, precision=precision)
    index.search_vectors(queries(1))
    index.delete([f"d{i}" for i in range(30)])  # 30% dead: more than COMPACT_SHARE
    report = index.sync_ann()
    assert report.rebuilt and index.info()["ann"]["dead"] == 0 and index.info()["ann"]["rows"] == 70
    agree(path, encoder, queries(4))


def test_labels_in_use_are_never_handed_out_again(tmp_path: Path, encoder: Encoder) -> None:
    path = tmp_path / "i"
    make_index(path, encoder, n=30)
    settings = json.loads((path / "index.json").read_text())
    settings["next_label"] = 0  # an index.json restored from an old copy
    (path / "index.json").write_text(json.dumps(settings))
    reopened = Index.open(path, encoder, ann=True, ef_search=EXHAUSTIVE)
    reopened.search_vectors(queries(1))  # the sync sees labels up to 29 in use
    assert reopened.settings["next_label"] == 30
    add(reopened, encoder, [500], queries(1))
    assert labels_of(reopened) == list(range(31))
    agree(path, encoder, queries(3))


def test_rows_restored_by_lancedb_come_back(tmp_path: Path, encoder: Encoder, precision: Precision) -> None:
    path = tmp_path / "i"
    index, vectors = make_index(path, encoder, n=50, precision=precision)
    before = index._table().version
    index.delete(["d1"])
    assert index.search_vectors(vectors[1], k=1)[0][0].doc_id != "d1"  # a tombstone now
    index._table().restore(before)  # LanceDB's time travel: d1's row, with its label, is back
    assert index.search_vectors(vectors[1], k=1)[0][0].doc_id == "d1"
    assert index.info()["ann"]["dead"] == 0
