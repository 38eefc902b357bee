"""Synthetic pairs: doc2query against a fake OpenAI-compatible server, inverse cloze, dedup and round trip."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from embedlab import Encoder
from embedlab.adapt.doc2query import doc2query, parse_queries
from embedlab.adapt.pairs import SyntheticPair, filter_pairs, write_pairs
from embedlab.adapt.synthetic import inverse_cloze, synthesize
from embedlab.adapt.text import split_sentences
from embedlab.encode import normalize_text
from embedlab.errors import InputError, LLMEndpointError
from embedlab.evaluate import BM25Search, ExactSearch
from embedlab.evaluate.retrieval import Ranking
from embedlab.io import read_records

CORPUS = {
    "bread": (
        "Sourdough bread rises with a wild yeast starter. Bakers feed the starter with flour and water every day. "
        "A long cold proof gives the loaf a sour taste."
    ),
    "plants": (
        "Plants turn sunlight into sugar through photosynthesis. Chlorophyll in the leaves absorbs red and blue "
        "light. Oxygen is released as a by-product."
    ),
    "bikes": (
        "A bicycle chain needs cleaning and oil every few hundred kilometres. A worn chain wears out the cassette "
        "quickly. Measure chain stretch with a simple gauge."
    ),
    "tax": (
        "Income tax returns are due at the end of April. Keep receipts for every deductible expense. Late filing "
        "adds a penalty and interest."
    ),
    "moon": (
        "The Moon orbits the Earth about once every 27 days. Its gravity causes the ocean tides. Astronauts first "
        "landed there in 1969."
    ),
}


# --- a fake OpenAI-compatible endpoint -------------------------------------------------------------------


@dataclass
class FakeLLM:
    """Answers ``POST /v1/chat/completions`` with three numbered, bulleted and quoted queries made of the
    document's words (the prompt's text after ``Document:``), after a preamble line. A document containing
    ``SLOW`` is answered after ``slow_seconds``; one containing ``GARBAGE`` gets HTML. The first
    ``fail_next`` requests get 503. Other paths get 404.
    """

    url: str = ""
    fail_next: int = 0
    slow_seconds: float = 1.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def fake_queries(document: str) -> list[str]:
    words = document.split()
    return [" ".join(words[:4]), " ".join(words[1:5]), " ".join(words[-4:])]


def _handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            document = body["messages"][0]["content"].split("Document:\n", 1)[1]
            request = {"path": self.path, "authorization": self.headers.get("Authorization"), "body": body}
            with fake.lock:
                fake.requests.append({**request, "document": document})
            if self.path != "/v1/chat/completions":
                self._send(404, b'{"error": {"message": "no such route"}}')
                return
            with fake.lock:
                failing = fake.fail_next > 0
                fake.fail_next -= int(failing)
            if failing:
                self._send(503, b'{"error": {"message": "overloaded"}}')
                return
            if "SLOW" in document:
                time.sleep(fake.slow_seconds)
            if "GARBAGE" in document:
                self._send(200, b"<html>not json</html>", "text/html")
                return
            first, second, third = fake_queries(document)
            content = f'Here are three search queries:\n1. {first}\n2) "{second}"\n\n- {third}\n'
            completion = {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            }
            self._send(200, json.dumps(completion).encode())

    return Handler


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    fake = FakeLLM()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    server.block_on_close = False
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- doc2query --------------------------------------------------------------------------------------------


def test_doc2query_sends_the_document_and_parses_the_answer_in_corpus_order(fake_llm: FakeLLM) -> None:
    corpus = {"a": CORPUS["bread"], "b": "SLOW " + CORPUS["plants"], "c": CORPUS["bikes"], "d": CORPUS["tax"]}
    fake_llm.slow_seconds = 0.3  # "b" finishes last, yet comes second
    pairs, report = doc2query(
        corpus, base_url=fake_llm.url, model="tiny-llm", api_key="sk-test", per_doc=3, concurrency=3, timeout=10
    )
    assert pairs == [SyntheticPair(q, doc_id, "doc2query") for doc_id in corpus for q in fake_queries(corpus[doc_id])]
    assert (report.documents, report.generated, report.llm_errors, report.errors) == (4, 12, 0, [])
    assert len(fake_llm.requests) == 4
    assert sorted(request["document"] for request in fake_llm.requests) == sorted(corpus.values())
    for request in fake_llm.requests:
        assert request["body"]["model"] == "tiny-llm"
        assert request["body"]["messages"][0]["role"] == "user"
        assert "Write 3 different search queries" in request["body"]["messages"][0]["content"]
        assert request["authorization"] == "Bearer sk-test"


def test_doc2query_keeps_per_doc_and_sends_no_key_unless_given(fake_llm: FakeLLM) -> None:
    pairs, _ = doc2query({"a": CORPUS["moon"]}, base_url=fake_llm.url + "/", model="m", per_doc=1)
    assert pairs == [SyntheticPair(fake_queries(CORPUS["moon"])[0], "a", "doc2query")]
    assert fake_llm.requests[0]["authorization"] is None


def test_doc2query_retries_503_then_counts_a_document_that_keeps_failing(fake_llm: FakeLLM) -> None:
    fake_llm.fail_next = 2
    pairs, report = doc2query({"a": CORPUS["bread"]}, base_url=fake_llm.url, model="m", backoff=0.01)
    assert len(fake_llm.requests) == 3 and report.llm_errors == 0 and len(pairs) == 3

    fake_llm.requests.clear()
    fake_llm.fail_next = 3  # "a": 503 twice, given up; "b": 503 once, then answered
    corpus = {"a": CORPUS["bread"], "b": CORPUS["tax"]}
    pairs, report = doc2query(corpus, base_url=fake_llm.url, model="m", max_retries=1, backoff=0.01, concurrency=1)
    assert [pair.doc_id for pair in pairs] == ["b", "b", "b"]
    assert report.llm_errors == 1 and len(fake_llm.requests) == 4
    assert report.errors[0].startswith("a: HTTP 503")


def test_doc2query_counts_timeouts_and_garbage_and_goes_on(fake_llm: FakeLLM) -> None:
    corpus = {"slow": "SLOW " + CORPUS["moon"], "ok": CORPUS["bikes"], "junk": "GARBAGE " + CORPUS["tax"]}
    started = time.perf_counter()
    pairs, report = doc2query(corpus, base_url=fake_llm.url, model="m", timeout=0.3, max_retries=1, backoff=0.01)
    assert time.perf_counter() - started < 5
    assert {pair.doc_id for pair in pairs} == {"ok"}
    assert (report.documents, report.generated, report.llm_errors) == (3, 3, 2)
    assert report.errors[0].startswith("slow: timed out after 2 attempts")
    assert report.errors[1].startswith("junk: not an OpenAI chat completion")


def test_doc2query_fails_fast_and_names_the_url_when_nothing_listens() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    started = time.perf_counter()
    with pytest.raises(LLMEndpointError, match=f"{url}/chat/completions"):
        doc2query(CORPUS, base_url=url, model="m", timeout=5)
    assert time.perf_counter() - started < 3


def test_doc2query_fails_fast_on_a_wrong_path(fake_llm: FakeLLM) -> None:
    with pytest.raises(LLMEndpointError, match="404"):
        doc2query(CORPUS, base_url=fake_llm.url.removesuffix("/v1") + "/api", model="m")
    assert [request["path"] for request in fake_llm.requests] == ["/api/chat/completions"]  # the first only


@pytest.mark.parametrize(
    "kwargs",
    [{"base_url": "localhost:11434/v1"}, {"prompt": "no document field"}, {"prompt": "{document} {other}"}],
)
def test_doc2query_refuses_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        doc2query(CORPUS, **{"base_url": "http://127.0.0.1:9/v1", "model": "m", **kwargs})


def test_parse_queries_strips_numbering_bullets_quotes_and_preamble() -> None:
    answer = (
        "<think>The user wants queries.\n1. not this</think>Sure! Here you go:\n"
        '1. **reset a password**\n2) "login  help"\n- 3.5 kg in pounds\nQuery 4: what is bm25\n\n* reset a password'
    )
    assert parse_queries(answer) == ["reset a password", "login help", "3.5 kg in pounds", "what is bm25"]


# --- inverse cloze ----------------------------------------------------------------------------------------


def test_inverse_cloze_is_seeded_and_takes_a_sentence_of_the_document() -> None:
    pairs, report = inverse_cloze(CORPUS, seed=7, remove_sentence=0.0)
    assert pairs == inverse_cloze(CORPUS, seed=7, remove_sentence=0.0)[0]
    assert [pair.doc_id for pair in pairs] == list(CORPUS)
    assert (report.documents, report.generated, report.documents_without_query) == (5, 5, 0)
    for pair in pairs:
        assert pair.query in split_sentences(CORPUS[pair.doc_id])
        assert pair.positive is None and pair.positive_text(CORPUS) == CORPUS[pair.doc_id]
    others = [inverse_cloze(CORPUS, seed=seed, remove_sentence=0.0)[0] for seed in range(5)]
    assert any(other != pairs for other in others)


def test_inverse_cloze_removes_the_sentence_from_the_positive() -> None:
    pairs, report = inverse_cloze(CORPUS, per_doc=2, seed=1, remove_sentence=1.0)
    assert report.generated == 10
    for pair in pairs:
        document = CORPUS[pair.doc_id]
        assert pair.positive is not None and pair.query not in pair.positive
        assert sorted((pair.positive + " " + pair.query).split()) == sorted(document.split())
    for doc_id in CORPUS:
        assert len({pair.query for pair in pairs if pair.doc_id == doc_id}) == 2


def test_inverse_cloze_skips_documents_without_two_usable_sentences() -> None:
    corpus = {"one": "Only one sentence lives in this document.", "tiny": "Too short. Also short.", **CORPUS}
    pairs, report = inverse_cloze(corpus, max_docs=None)
    assert {pair.doc_id for pair in pairs} == set(CORPUS)
    assert report.documents_without_query == 2
    sample, report = inverse_cloze(corpus, max_docs=3, seed=4)
    assert report.documents == 3 and sample == inverse_cloze(corpus, max_docs=3, seed=4)[0]


# --- dedup and round trip ---------------------------------------------------------------------------------


def test_filter_pairs_dedupes_and_keeps_only_round_trips(encoder: Encoder) -> None:
    pairs = [
        SyntheticPair("how to feed a sourdough starter", "bread", "doc2query"),
        SyntheticPair("How to feed a  Sourdough starter?", "bread", "doc2query"),  # duplicate
        SyntheticPair("how do leaves absorb sunlight for photosynthesis", "bread", "doc2query"),  # finds "plants"
        SyntheticPair(CORPUS["moon"].upper(), "moon", "doc2query"),  # the document itself
        SyntheticPair("tides", "moon", "doc2query"),  # one word
        SyntheticPair("when are income tax returns due", "tax", "doc2query"),
    ]
    searches = [ExactSearch(encoder, CORPUS), BM25Search(CORPUS)]
    kept, report = filter_pairs(pairs, CORPUS, search=searches, k=1)
    assert kept == [pairs[0], pairs[5]]
    assert (report.generated, report.too_short, report.same_as_document, report.duplicates) == (6, 1, 1, 1)
    assert (report.failed_round_trip, report.kept, report.method) == (1, 2, "doc2query")
    for search in searches:  # neither search finds "bread" for the planted query
        assert search([pairs[2].query], 1)[0][0][0] == "plants"


def test_filter_pairs_keeps_a_pair_any_search_finds_and_batches_the_calls() -> None:
    calls: list[list[str]] = []

    def always(doc_id: str) -> Any:
        def search(queries: Sequence[str], k: int) -> list[Ranking]:
            calls.append(list(queries))
            return [[(doc_id, 1.0)] for _ in queries]

        return search

    corpus = {"x": "document x", "y": "document y", "z": "document z"}
    pairs = [SyntheticPair(f"query for {d}", d, "inverse_cloze") for d in corpus]
    kept, report = filter_pairs(pairs, corpus, search=[always("x"), always("y")], k=5)
    assert kept == pairs[:2] and report.failed_round_trip == 1 and report.kept == 2
    assert calls == [["query for x", "query for y", "query for z"], ["query for y", "query for z"]]
    with pytest.raises(InputError, match="not in the corpus"):
        filter_pairs([SyntheticPair("a query", "nope", "doc2query")], corpus, search=always("x"))


# --- end to end and the file ------------------------------------------------------------------------------


def test_synthesize_with_an_llm_and_without(encoder: Encoder, fake_llm: FakeLLM) -> None:
    pairs, report = synthesize(CORPUS, encoder=encoder, llm_base_url=fake_llm.url, llm_model="m", k=1)
    assert report.method == "doc2query" and report.generated == 15 and report.kept == len(pairs) > 0
    assert report.kept + report.duplicates + report.too_short + report.failed_round_trip == 15
    assert {pair.doc_id for pair in pairs} == set(CORPUS)

    pairs, report = synthesize(CORPUS, encoder=encoder, k=1, seed=3)
    assert report.method == "inverse_cloze" and report.generated == 5 and report.kept == len(pairs) > 0
    with pytest.raises(InputError, match="--llm-model"):
        synthesize(CORPUS, encoder=encoder, llm_base_url=fake_llm.url)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_write_pairs_writes_anchor_positive_and_doc_id(tmp_path: Path, suffix: str) -> None:
    corpus = {**CORPUS, "quoted": 'A "quoted", multi-line\ndocument. With two sentences.'}
    pairs = [
        SyntheticPair("feed a starter", "bread", "doc2query"),
        SyntheticPair("Its gravity causes the ocean tides.", "moon", "inverse_cloze", positive="The Moon orbits."),
        SyntheticPair("quoted multi-line", "quoted", "doc2query"),
    ]
    path = write_pairs(tmp_path / f"pairs{suffix}", pairs, corpus)
    rows = read_records(path)
    assert rows == [
        {"anchor": "feed a starter", "positive": CORPUS["bread"], "doc_id": "bread"},
        {"anchor": "Its gravity causes the ocean tides.", "positive": "The Moon orbits.", "doc_id": "moon"},
        {"anchor": "quoted multi-line", "positive": corpus["quoted"], "doc_id": "quoted"},
    ]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    with pytest.raises(InputError):
        write_pairs(tmp_path / "pairs.txt", pairs, corpus)


def test_queries_are_normalised_text() -> None:
    pairs, _ = inverse_cloze({"d": "First  sentence has\nfive words. Second sentence has five words."})
    assert pairs[0].query == normalize_text(pairs[0].query)
