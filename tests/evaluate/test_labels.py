"""`embedlab label`: candidates judged into BEIR qrels, saved query by query, resumed where it stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedlab import Encoder
from embedlab.cli import app
from embedlab.errors import InputError
from embedlab.evaluate import load_beir
from embedlab.evaluate.data import read_qrels
from embedlab.evaluate.labels import label_queries, parse_answer, query_id, read_queries
from embedlab.index import Index

DOCS = {
    "bread": "Sourdough bread rises with a wild yeast starter fed with flour and water.",
    "bikes": "Clean and oil a bicycle chain every few hundred kilometres.",
    "tax": "Income tax returns are due at the end of April; keep your receipts.",
    "moon": "The Moon's gravity causes the ocean tides.",
}


def _propose(query: str, k: int) -> list[tuple[str, str]]:
    """Candidates in a fixed order, whatever the query: the test knows which rank is which document."""
    return list(DOCS.items())[:k]


def test_parse_answer_reads_ranks_none_skip_and_quit() -> None:
    assert parse_answer(" 3, 1 1", 4) == [1, 3]
    assert parse_answer("2 4", 4) == [2, 4]
    assert parse_answer("", 4) == parse_answer("0", 4) == parse_answer("n", 4) == []
    assert (parse_answer("s", 4), parse_answer("Q", 4)) == ("skip", "quit")
    with pytest.raises(InputError, match="between 1 and 4"):
        parse_answer("5", 4)
    with pytest.raises(InputError, match="between 1 and 4"):
        parse_answer("first", 4)


def test_labels_are_valid_qrels_and_a_second_session_resumes(tmp_path: Path) -> None:
    queries = {"q1": "how do I feed a starter", "q2": "when is my tax return due", "q3": "why are there tides"}
    qrels = tmp_path / "labels" / "qrels" / "test.tsv"
    first = iter(["1", "s", "q"])  # judge q1, skip q2, stop at q3
    summary = label_queries(queries, _propose, qrels, answer=lambda q, c: next(first), k=3)
    assert (summary.judged, summary.skipped, summary.stopped, summary.remaining) == (1, 1, True, 1)
    assert read_qrels(qrels) == {"q1": {"bread": 1, "bikes": 0, "tax": 0}}
    assert qrels.read_text().splitlines()[0] == "query-id\tcorpus-id\tscore"

    asked: list[str] = []
    second = iter(["3", "1,2", "whatever"])

    def answer(query: str, candidates: list[tuple[str, str]]) -> str:
        asked.append(query)
        return next(second)

    summary = label_queries(queries, _propose, qrels, answer=answer, k=3)
    assert asked == ["when is my tax return due", "why are there tides"]  # q1 is not asked again
    assert (summary.judged, summary.already_judged, summary.relevant_pairs) == (2, 1, 4)
    assert read_qrels(qrels) == {
        "q1": {"bread": 1, "bikes": 0, "tax": 0},
        "q2": {"bread": 0, "bikes": 0, "tax": 1},
        "q3": {"bread": 1, "bikes": 1, "tax": 0},
    }
    # the folder is a BEIR benchmark once the corpus is beside it
    (tmp_path / "labels" / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in DOCS.items())
    )
    benchmark = load_beir(tmp_path / "labels", split="test")
    assert benchmark.queries == queries and benchmark.qrels["q2"] == {"bread": 0, "bikes": 0, "tax": 1}


def test_a_refused_answer_is_asked_again_when_there_is_someone_to_tell(tmp_path: Path) -> None:
    replies, told = iter(["7", "2"]), []
    summary = label_queries({"q": "chain oil"}, _propose, tmp_path / "qrels.tsv", answer=lambda q, c: next(replies),
                            k=2, on_error=told.append)  # fmt: skip
    assert summary.judged == 1 and read_qrels(tmp_path / "qrels.tsv") == {"q": {"bread": 0, "bikes": 1}}
    assert len(told) == 1 and "between 1 and 2" in told[0]
    assert (tmp_path / "queries.jsonl").is_file()


def test_text_queries_get_stable_ids(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("reset my password\n\nchange my email\n")
    (tmp_path / "b.txt").write_text("change my email\nreset my password\n")  # reordered: the same ids
    assert read_queries(tmp_path / "a.txt") == read_queries(tmp_path / "b.txt")
    assert read_queries(tmp_path / "a.txt")[query_id("reset my password")] == "reset my password"


def test_label_from_the_cli_proposes_by_hybrid_search_and_resumes(tmp_path: Path, encoder: Encoder) -> None:
    index = Index.create(tmp_path / "index", encoder)
    index.add({"id": d, "text": t} for d, t in DOCS.items())
    (tmp_path / "queries.txt").write_text("feeding a sourdough starter\nwhat makes the tides\n")
    command = ["label", str(tmp_path / "queries.txt"), "--index", str(tmp_path / "index"),
               "--out", str(tmp_path / "labels"), "-k", "2", "--answers", "-"]  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(app, command, input="1\n")  # the second query gets no answer: stop there
    assert result.exit_code == 0, result.output
    assert "feeding a sourdough starter" in result.output and "stopped with 1 to go" in result.output
    starter, tides = query_id("feeding a sourdough starter"), query_id("what makes the tides")
    qrels = read_qrels(tmp_path / "labels" / "qrels" / "test.tsv")
    assert list(qrels) == [starter] and qrels[starter]["bread"] == 1 and len(qrels[starter]) == 2
    result = runner.invoke(app, command, input="1\n")
    assert result.exit_code == 0, result.output
    assert "1 queries judged now, 1 before" in result.output and "feeding a sourdough" not in result.output
    qrels = read_qrels(tmp_path / "labels" / "qrels" / "test.tsv")
    first, second = (hit.doc_id for hit in index.search("what makes the tides", 2, mode="hybrid"))
    assert qrels[tides] == {first: 1, second: 0} and first == "moon"
    assert "2 relevant pairs" in result.output and "48 more" in result.output
