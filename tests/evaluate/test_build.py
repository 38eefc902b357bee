from __future__ import annotations

import json
from pathlib import Path

import pytest

from embedlab import InputError
from embedlab.evaluate import load_beir
from embedlab.evaluate.build import build_benchmark


def _corpus(path: Path, n: int = 30) -> Path:
    rows = [{"id": f"d{i}", "title": f"Doc {i}", "text": f"text of document {i}"} for i in range(n)]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    return path


def test_build_splits_by_normalised_query_without_leakage(tmp_path: Path) -> None:
    log = []
    for i in range(40):
        log.append({"query": f"question {i}", "doc_id": f"d{i % 30}"})
        log.append({"query": f"  QUESTION   {i} ", "doc_id": f"d{(i + 1) % 30}"})  # the same query, asked again
    log.append({"query": "question 0", "doc_id": "d999"})  # a click on a deleted document
    log.append({"query": "   ", "doc_id": "d1"})
    (tmp_path / "log.jsonl").write_text("\n".join(json.dumps(r) for r in log), encoding="utf-8")
    summary = build_benchmark(_corpus(tmp_path / "corpus.jsonl"), tmp_path / "log.jsonl", tmp_path / "bench",
                              title_field="title")  # fmt: skip
    assert summary.queries == {"train": 28, "dev": 4, "test": 8}
    assert summary.relevant_per_query == {"mean": 2.0, "min": 2.0, "max": 2.0}
    assert (summary.dropped_unknown_documents, summary.dropped_empty_queries) == (1, 1)
    splits = {}
    for split in ("train", "dev", "test"):
        bench = load_beir(tmp_path / "bench", split=split)
        splits[split] = {bench.queries[q].casefold() for q in bench.queries}
        assert all(len(judged) == 2 for judged in bench.qrels.values())
    assert not (splits["train"] & splits["test"]) and not (splits["train"] & splits["dev"])
    assert not (splits["dev"] & splits["test"])
    assert load_beir(tmp_path / "bench", split="test").corpus["d3"] == "Doc 3 text of document 3"


def test_mapping_form_grades_and_refusals(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus.jsonl")
    log = tmp_path / "map.jsonl"
    log.write_text(json.dumps({"q": "alpha", "docs": ["d1", "d2"], "g": 2}) + "\n", encoding="utf-8")
    summary = build_benchmark(corpus, log, tmp_path / "b", query_field="q", doc_field="docs", grade_field="g",
                              test=0.5, dev=0.0)  # fmt: skip
    assert summary.judgements == 2
    qrels = (tmp_path / "b" / "qrels" / "test.tsv").read_text() + (tmp_path / "b" / "qrels" / "train.tsv").read_text()
    assert "\td1\t2" in qrels and "\td2\t2" in qrels
    with pytest.raises(InputError, match="not empty"):
        build_benchmark(corpus, log, tmp_path / "b", query_field="q", doc_field="docs")
    with pytest.raises(InputError, match="needs fields 'query' and 'doc_id'"):
        build_benchmark(corpus, log, tmp_path / "c")
    log.write_text(json.dumps({"query": "x", "doc_id": "nope"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="no judgement names a document"):
        build_benchmark(corpus, log, tmp_path / "d")
    with pytest.raises(InputError, match="fractions"):
        build_benchmark(corpus, log, tmp_path / "e", dev=0.5, test=0.5)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"query": ["x", "y"], "doc_id": "d2"}, r"log.jsonl:2: 'query' must be a string .* got list"),
        ({"query": {"text": "x"}, "doc_id": "d2"}, r"log.jsonl:2: 'query' must be a string"),
        ({"query": "beta"}, r"log.jsonl:2: no 'doc_id'"),
        ({"query": "beta", "doc_id": None}, r"log.jsonl:2: no 'doc_id'"),
        ({"query": "beta", "doc_id": {"id": "d2"}}, r"log.jsonl:2: 'doc_id' must be a document id"),
        ({"query": "beta", "doc_id": [["d2"]]}, r"log.jsonl:2: 'doc_id' must be a document id"),
        ({"query": "beta", "doc_id": []}, r"log.jsonl:2: 'doc_id' must be a document id"),
        ({"query": "beta", "doc_id": "d2", "g": 1.5}, r"log.jsonl:2: grade 'g' is 1.5, not a whole number"),
        ({"query": "beta", "doc_id": "d2", "g": True}, r"log.jsonl:2: grade 'g' is True"),
    ],
)
def test_a_wrong_typed_log_row_is_refused_with_its_line(tmp_path: Path, bad: dict[str, object], message: str) -> None:
    # A list query used to become the query text "['x', 'y']", a dict id a dropped "unknown document", a grade
    # of 1.5 grade 1, and a row without the id field a KeyError traceback.
    rows = [{"query": "alpha", "doc_id": "d1", "g": 1}, {"g": 1, **bad}, {"query": "gamma", "doc_id": 3, "g": "2"}]
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    with pytest.raises(InputError, match=message):
        build_benchmark(_corpus(tmp_path / "corpus.jsonl"), log, tmp_path / "bench", grade_field="g")
    assert not (tmp_path / "bench").exists()


def test_whole_number_ids_and_grades_of_any_spelling_are_read(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": str(i), "text": f"text {i}"}) + "\n" for i in range(4)), "utf-8")
    rows = [{"query": "a", "doc_id": 1, "g": 2.0}, {"query": "b", "doc_id": [2, "3"], "g": "1"}, {"query": None,
            "doc_id": 0, "g": 1}]  # fmt: skip
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    summary = build_benchmark(corpus, log, tmp_path / "bench", grade_field="g", dev=0.0, test=0.5)
    assert (summary.judgements, summary.dropped_empty_queries) == (3, 1)
    qrels = "".join((tmp_path / "bench" / "qrels" / f"{s}.tsv").read_text() for s in ("train", "test"))
    assert sorted(line.split("\t", 1)[1] for line in qrels.splitlines() if "score" not in line) == [
        "1\t2", "2\t1", "3\t1"
    ]  # fmt: skip


def test_the_cli_splits_by_document_and_says_no_test_document_is_relevant_in_train(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from embedlab.cli import app

    corpus = _corpus(tmp_path / "corpus.jsonl")
    # three phrasings per document, as a job title's alternative labels: a query split scatters them
    log = [{"query": f"way {n} to ask for {i}", "doc_id": f"d{i}"} for i in range(30) for n in range(3)]
    (tmp_path / "log.jsonl").write_text("\n".join(json.dumps(r) for r in log), encoding="utf-8")
    command = ["benchmark", "build", "--corpus", str(corpus), "--log", str(tmp_path / "log.jsonl"), "--json"]
    runner = CliRunner()
    by_query = json.loads(runner.invoke(app, [*command, "--out", str(tmp_path / "q")]).output)
    result = runner.invoke(app, [*command, "--out", str(tmp_path / "d"), "--split-by", "document"])
    by_document = json.loads(result.output)
    assert by_query["split_by"] == "query" and by_query["test_documents_in_train"] > 0
    assert by_document["split_by"] == "document" and by_document["test_documents_in_train"] == 0
    assert by_document["queries"] == {"train": 63, "dev": 9, "test": 18}  # whole documents: 21, 3 and 6 of 30
    wrong = runner.invoke(app, [*command, "--out", str(tmp_path / "x"), "--split-by", "topic"])
    assert isinstance(wrong.exception, InputError) and "split by query or document" in str(wrong.exception)
