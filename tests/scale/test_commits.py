"""The Ray engine's exactness without Ray: rows become chunk tables, whole documents are committed, the ledger skips.

The driver side of :mod:`embedlab.scale.pipeline` (``chunk_table`` from an actor, ``_take`` and ``_commit``)
runs here on a real LanceDB index, with vectors from the same encoder as ``Index.add``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import embedlab.extras as extras
from embedlab import EmbeddingModel
from embedlab.errors import InputError, MissingExtraError
from embedlab.index import Index
from embedlab.index.rows import embed_for_index
from embedlab.scale import Cluster, Ledger, Progress, add_with_ray, content_hash
from embedlab.scale.cluster import connected
from embedlab.scale.ledger import to_encode
from embedlab.scale.pipeline import _commit, _Pending, _take, chunk_table
from embedlab.scale.read import Fields, check_source, documents

LONG = " ".join(f"Sentence {i} about a cat that sleeps on the warm mat all afternoon." for i in range(10))
DOCS = [
    {"id": "a", "text": "The cat sleeps.", "lang": "en"},
    {"id": "b", "text": LONG, "title": "Cats", "lang": "en"},  # several chunks
    {"id": "c", "text": "Il pleut.", "lang": "fr"},
    {"id": "d", "text": "Rain again today.", "lang": None},
]


def run_driver(index: Index, docs: list[dict], *, commit_size: int, stop_after: int | None = None) -> int:
    """What add_with_ray does with the actors' output: commit in whole documents, skip the committed ones."""
    ledger = Ledger(index.path, index.settings["model"]["fingerprint"])
    todo, hashes = to_encode(docs, ledger.committed())
    skipped = [d for d in docs if all(d is not t for t in todo)]
    dimension = index.settings["model"]["dimension"]
    block = chunk_table([*todo, *skipped], [*hashes, *[None] * len(skipped)],
                        embed_for_index(index.encoder, index.settings, todo), dimension)  # fmt: skip
    pending, commits = _Pending(), 0
    assert _take(block, pending, set()) == len(skipped)
    while pending.documents and (stop_after is None or commits < stop_after):
        _commit(index, ledger, pending, commit_size)
        commits += 1
    return len(todo)


@pytest.fixture
def index(tmp_path, model: EmbeddingModel) -> Index:
    return Index.create(tmp_path / "ray", model, metadata_fields=["lang"], chunk_tokens=32, overlap=8)


def rows(index: Index) -> pa.Table:
    return index._table().to_arrow().drop_columns(["label"]).sort_by("row_id")


def test_content_hash_covers_text_title_and_metadata_not_the_id():
    base = {"id": "1", "text": "x", "title": "t", "lang": "en"}
    assert content_hash(base) == content_hash({**base, "id": "2"}) == content_hash(dict(reversed(base.items())))
    assert len({content_hash(base), content_hash({**base, "text": "y"}), content_hash({**base, "title": "u"}),
                content_hash({**base, "lang": "fr"})}) == 4  # fmt: skip


def test_driver_commits_exactly_what_index_add_writes(index, tmp_path, model):
    reference = Index.create(tmp_path / "one", model, metadata_fields=["lang"], chunk_tokens=32, overlap=8)
    reference.add(DOCS)
    assert run_driver(index, DOCS, commit_size=3) == 4  # 2 commits: 3 documents, then 1
    assert len(index) == 4 and index.info()["chunks"] == reference.info()["chunks"] > 4
    mine, theirs = rows(index), rows(reference)
    for name in ("row_id", "doc_id", "chunk", "start", "end", "title", "text", "fts_text", "lang"):
        assert mine.column(name).to_pylist() == theirs.column(name).to_pylist(), name
    a, b = (np.stack(table.column("vector").to_numpy(zero_copy_only=False)) for table in (mine, theirs))
    assert (a * b).sum(axis=1).min() >= 0.9999
    assert [hit.doc_id for hit in index.search("a sleeping cat", k=2)] == [
        h.doc_id for h in reference.search("a sleeping cat", k=2)
    ]


def test_a_second_run_adds_nothing_and_a_resumed_one_only_what_is_missing(index):
    assert run_driver(index, DOCS, commit_size=2, stop_after=1) == 4  # "crash" after the first commit
    assert sorted(Ledger(index.path, index.settings["model"]["fingerprint"]).committed()) == ["a", "b"]
    assert run_driver(index, DOCS, commit_size=2) == 2  # the resumed run encodes c and d only
    assert run_driver(index, DOCS, commit_size=2) == 0
    assert len(index) == 4 and index._rows.count("chunk = 0") == 4


def test_rows_committed_but_not_recorded_are_replaced_not_duplicated(index):
    run_driver(index, DOCS, commit_size=4)
    chunks = index.info()["chunks"]
    Ledger(index.path, index.settings["model"]["fingerprint"])._table().delete("doc_id = 'b'")  # crash between commits
    assert run_driver(index, DOCS, commit_size=4) == 1
    assert len(index) == 4 and index.info()["chunks"] == chunks


def test_changed_deleted_and_other_model_documents_are_encoded_again(index):
    run_driver(index, DOCS, commit_size=4)
    index.delete(["c"])
    changed = [{**DOCS[0], "text": "The dog sleeps."}, *DOCS[1:]]
    assert run_driver(index, changed, commit_size=4) == 2  # a (changed) and c (deleted since)
    assert index.search("dog", k=1)[0].text == "The dog sleeps." and len(index) == 4
    assert Ledger(index.path, "another-model").committed() == {}


def test_documents_from_a_batch_are_those_of_a_file():
    batch = pa.table({"_id": [1, 2], "body": ["First.", "Second."], "head": ["T", None], "lang": ["en", "fr"]})
    assert documents(batch, Fields("body", "_id", "head", ("lang",))) == [
        {"id": "1", "text": "First.", "title": "T", "lang": "en"},
        {"id": "2", "text": "Second.", "lang": "fr"},
    ]
    with pytest.raises(InputError, match="not a string"):
        documents(pa.table({"id": ["1"], "text": [3]}), Fields())


def test_an_id_repeated_across_batches_is_refused(index):
    pending, seen = _Pending(), set()
    block = chunk_table(
        DOCS[:1], [content_hash(DOCS[0])], embed_for_index(index.encoder, index.settings, DOCS[:1]), 384
    )
    _take(block, pending, seen)
    with pytest.raises(InputError, match="repeated: a"):
        _take(block, pending, seen)


def test_progress_line_and_cluster_checks():
    progress = Progress(done=1024, committed=1000, skipped=24, total=4096, seconds=3.2)
    assert progress.line() == "1,024/4,096 documents (24 skipped), 312.5 documents/s, ETA 10 s"
    with pytest.raises(InputError, match="commit_size"):
        Cluster(commit_size=0)


def test_without_ray_the_engine_names_the_extra(monkeypatch):
    real = extras._importable
    monkeypatch.setattr(extras, "_importable", lambda module: module != "ray" and real(module))
    with pytest.raises(MissingExtraError, match=r"pip install 'embedlab\[ray\]'"), connected(Cluster()):
        pass


def test_inputs_are_checked_before_ray_starts(tmp_path, index):
    (tmp_path / "docs").mkdir()
    for name in ("part-2.csv", "part-1.csv"):
        (tmp_path / "docs" / name).write_text("id,text\n1,a\n")
    _, first, suffix = check_source(tmp_path / "docs")
    assert (Path(first).name, suffix) == ("part-1.csv", ".csv")
    with pytest.raises(InputError, match="no such file"):
        check_source(tmp_path / "nothing.jsonl")
    (tmp_path / "lines.txt").write_text("one text\n")
    with pytest.raises(InputError, match=r"reads \.jsonl.*not '\.txt'"):
        add_with_ray(index, tmp_path / "lines.txt")  # refused before any Ray start-up
