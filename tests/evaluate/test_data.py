from __future__ import annotations

import json
from pathlib import Path

import pytest

from embedlab import InputError
from embedlab.evaluate import BenchmarkWarning, load_beir, load_pairs, read_qrels


def _beir(root: Path, corpus: list[dict], queries: list[dict], qrels: str) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus), encoding="utf-8")
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries), encoding="utf-8")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels, encoding="utf-8")
    return root


DOCS = [{"_id": "d1", "title": "T", "text": "one"}, {"_id": "d2", "title": "", "text": "two"}]
QUERIES = [{"_id": "q1", "text": "first"}, {"_id": "q2", "text": "second"}]


def test_loads_graded_qrels_and_joins_title_and_text(tmp_path: Path) -> None:
    bench = load_beir(_beir(tmp_path / "b", DOCS, QUERIES, "q1\td1\t2\nq2\td2\t1\n"))
    assert bench.corpus == {"d1": "T one", "d2": "two"}
    assert bench.qrels == {"q1": {"d1": 2}, "q2": {"d2": 1}}
    assert bench.dropped == {"empty_documents": 0, "empty_queries": 0, "queries_without_relevant": 0}


def test_unknown_ids_in_qrels_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"1 unknown query ids \['q9'\] and 1 unknown document ids \['d9'\]"):
        load_beir(_beir(tmp_path / "b", DOCS, QUERIES, "q1\td9\t1\nq9\td1\t1\n"))


def test_duplicate_document_ids_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="ids must be unique; repeated: d1"):
        load_beir(_beir(tmp_path / "b", [*DOCS, {"_id": "d1", "title": "", "text": "again"}], QUERIES, "q1\td1\t1\n"))


def test_empty_queries_documents_and_unjudged_queries_are_counted(tmp_path: Path) -> None:
    docs = [*DOCS, {"_id": "d3", "title": "", "text": "  "}]
    queries = [*QUERIES, {"_id": "q3", "text": " "}, {"_id": "q4", "text": "fourth"}]
    root = _beir(tmp_path / "b", docs, queries, "q1\td1\t1\nq2\td3\t1\nq3\td1\t1\nq4\td2\t0\n")
    with pytest.warns(BenchmarkWarning) as caught:
        bench = load_beir(root)
    assert bench.dropped == {"empty_documents": 1, "empty_queries": 1, "queries_without_relevant": 1}
    assert {str(w.message) for w in caught} == {
        "b/test: left out 1 empty documents.",
        "b/test: left out 1 empty queries.",
        "b/test: left out 1 queries without relevant.",
    }
    # q2's only relevant document is empty: q2 stays, and no system can find it (a recall denominator).
    assert set(bench.queries) == {"q1", "q2"}


def test_missing_split_and_malformed_qrels(tmp_path: Path) -> None:
    root = _beir(tmp_path / "b", DOCS, QUERIES, "q1\td1\t1\n")
    with pytest.raises(InputError, match=r"train\.tsv is missing"):
        load_beir(root, split="train")
    bad = tmp_path / "bad.tsv"
    bad.write_text("query-id\tcorpus-id\tscore\nq1\td1\thigh\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.tsv:2: expected"):
        read_qrels(bad)
    bad.write_text("q1\td1\t1\nq1\td1\t2\n", encoding="utf-8")
    with pytest.raises(InputError, match="judges document d1 twice"):
        read_qrels(bad)


def test_pairs_with_and_without_header(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('a,b,1.5\n"c, with comma",d,4\n', encoding="utf-8")
    pairs = load_pairs(path)
    assert (pairs.texts1, pairs.texts2, pairs.scores) == (["a", "c, with comma"], ["b", "d"], [1.5, 4.0])
    path.write_text("text1,text2,score\na,b,1\n", encoding="utf-8")
    assert load_pairs(path).scores == [1.0]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"sentence1": "a", "sentence2": "b", "label": 0.5}\n', encoding="utf-8")
    pairs = load_pairs(jsonl, text1_field="sentence1", text2_field="sentence2", score_field="label")
    assert (pairs.texts1, pairs.scores) == (["a"], [0.5])
    path.write_text("x,y,z\na,b,c\n", encoding="utf-8")
    with pytest.raises(InputError, match="needs fields 'text1', 'text2', 'score'"):
        load_pairs(path)
    path.write_text("a,b,1\nc,d\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"p.csv:2: expected"):
        load_pairs(path)
    path.write_text("text1,text2,score\n", encoding="utf-8")
    with pytest.raises(InputError, match="no scored pairs"):
        load_pairs(path)


def test_unreadable_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_pairs(tmp_path / "missing.csv")
    qrels = tmp_path / "q.tsv"
    qrels.write_bytes(b"query-id\tcorpus-id\tscore\nq\xe9\td1\t1\n")
    with pytest.raises(InputError, match="not valid UTF-8"):
        read_qrels(qrels)
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n\n", encoding="utf-8")
    assert read_qrels(qrels) == {"q1": {"d1": 1}}  # a trailing blank line is fine
