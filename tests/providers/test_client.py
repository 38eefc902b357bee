"""Remote providers against a fake server on loopback: batching, retries, backoff, keys kept out of sight."""

from __future__ import annotations

import logging
import random
from dataclasses import replace

import numpy as np
import pytest

from embedlab.providers import PROVIDERS, RemoteClient, RemoteError, RemoteSpec, parse_spec
from embedlab.providers.client import batches
from tests.providers.fake import FakeProvider, Fault, fake_vector, serving

KEY = "sk-test-0123456789abcdefSECRET"


class Highest(random.Random):
    """Jitter that always draws the top of its range: the schedule is then exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


def vendor(name: str, url: str, model: str) -> RemoteSpec:
    """A vendor's spec (its key variable, its limits) with requests going to the fake server."""
    return RemoteSpec(replace(PROVIDERS[name], base_url=url), model)


def client_for(spec: RemoteSpec, sleeps: list[float], **options: object) -> RemoteClient:
    return RemoteClient(spec, sleep=sleeps.append, rng=Highest(), **options)  # type: ignore[arg-type]


def test_retries_429_500_and_timeout_with_backoff_and_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDLAB_ENDPOINT_API_KEY", KEY)
    faults = [Fault(429, {"Retry-After": "7"}, '{"error": "slow down"}'), Fault(500, body="oops"), Fault(delay=1.0)]
    with serving(FakeProvider(dim=8, faults=faults)) as fake:
        sleeps: list[float] = []
        client = client_for(parse_spec(f"openai:m@{fake.url}/v1#8"), sleeps, timeout=0.3)
        vectors = client.embed(["a", "b"])
    assert sleeps == [7.0, 2.0, 4.0]  # Retry-After obeyed; then backoff 1 * 2**n at the top of its jitter
    assert client.requests == 4 and len(fake.requests) == 4
    np.testing.assert_allclose(vectors, [fake_vector("a", 8), fake_vector("b", 8)])  # order by "index", not arrival
    assert fake.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"


def test_gives_up_after_the_last_retry_and_says_why() -> None:
    with serving(FakeProvider(faults=[Fault(503, body="down")] * 4)) as fake:
        sleeps: list[float] = []
        client = client_for(parse_spec(f"openai:m@{fake.url}/v1#8"), sleeps, max_retries=3)
        with pytest.raises(RemoteError, match=r"failed after 4 attempts: HTTP 503: down"):
            client.embed(["a"])
    assert sleeps == [1.0, 2.0, 4.0]


def test_backoff_is_jittered_between_half_and_the_whole_capped_delay() -> None:
    client = RemoteClient(
        parse_spec("openai:m@http://127.0.0.1:9/v1"), backoff=0.5, max_backoff=3.0, rng=random.Random(1)
    )
    for attempt, ceiling in enumerate([0.5, 1.0, 2.0, 3.0, 3.0]):
        delays = {client.delay(attempt, None) for _ in range(50)}
        assert min(delays) >= ceiling / 2 and max(delays) <= ceiling and len(delays) > 1
    assert client.delay(3, 12.5) == 12.5


def test_a_long_retry_after_is_refused_at_once() -> None:
    with serving(FakeProvider(faults=[Fault(429, {"Retry-After": "3600"}, "quota")])) as fake:
        sleeps: list[float] = []
        with pytest.raises(RemoteError, match="asks to wait 3600 s"):
            client_for(parse_spec(f"openai:m@{fake.url}/v1#8"), sleeps).embed(["a"])
    assert sleeps == []


def test_keys_are_absent_from_errors_and_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    echo = f'{{"error": {{"message": "Incorrect API key provided: {KEY}. Also {KEY[:3]}****{KEY[-10:]}"}}}}'
    faults = [Fault(429, body=f"rate limited for key {KEY}"), Fault(401, body=echo)]
    caplog.set_level(logging.DEBUG)
    with serving(FakeProvider(faults=faults)) as fake:
        spec = vendor("openai", f"{fake.url}/v1", "text-embedding-3-small")
        with pytest.raises(RemoteError) as caught:
            client_for(spec, []).embed(["a"])
    message = str(caught.value)
    assert "refused the request (HTTP 401" in message and "Incorrect API key provided: ***" in message
    assert caught.value.__cause__ is None
    for text in (message, caplog.text):
        assert KEY not in text and KEY[-10:] not in text
    assert "retry 1 of 6" in caplog.text  # the retry was logged, without the key
    assert fake.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"


def test_a_vendor_key_comes_from_the_environment_or_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    with serving(FakeProvider(dim=384)) as fake:
        spec = vendor("cohere", f"{fake.url}/v2", "embed-english-light-v3.0")
        with pytest.raises(RemoteError, match="needs an API key: set COHERE_API_KEY, or COHERE_API_KEY_FILE"):
            RemoteClient(spec).embed(["a"])
        (tmp_path / "key").write_text(KEY + "\n")
        monkeypatch.setenv("COHERE_API_KEY_FILE", str(tmp_path / "key"))
        vectors = RemoteClient(spec).embed(["a"])
    assert vectors.shape == (1, 384)
    assert fake.requests[-1]["headers"]["Authorization"] == f"Bearer {KEY}"
    assert fake.requests[-1]["body"]["input_type"] == "search_document"


def test_a_vendor_key_is_never_sent_to_an_endpoint_the_spec_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("EMBEDLAB_ENDPOINT_API_KEY", raising=False)
    with serving(FakeProvider()) as fake:
        RemoteClient(parse_spec(f"openai:text-embedding-3-small@{fake.url}/v1#8")).embed(["a"])
    assert "Authorization" not in fake.requests[0]["headers"]


def test_batches_stay_within_texts_and_tokens_per_request() -> None:
    openai = replace(PROVIDERS["openai"], max_inputs=3, max_request_tokens=100)
    spec = RemoteSpec(openai, "text-embedding-3-small")
    assert list(batches(spec, [10] * 7)) == [(0, 3), (3, 6), (6, 7)]
    assert list(batches(spec, [60, 30, 20, 150, 5])) == [(0, 2), (2, 3), (3, 4), (4, 5)]  # one oversized text alone


def test_cohere_requests_carry_at_most_96_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHERE_API_KEY", KEY)
    with serving(FakeProvider(dim=384)) as fake:
        spec = vendor("cohere", f"{fake.url}/v2", "embed-english-light-v3.0")
        vectors = RemoteClient(spec).embed([f"text {i}" for i in range(200)])
    assert [len(request["body"]["texts"]) for request in fake.requests] == [96, 96, 8]
    np.testing.assert_allclose(vectors[150], fake_vector("text 150", 384))


def test_hugging_face_wire_and_a_per_token_answer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", KEY)
    with serving(FakeProvider(dim=8)) as fake:
        spec = RemoteSpec(replace(PROVIDERS["hf"], base_url=fake.url), "BAAI/bge-small-en-v1.5", dimensions=8)
        vectors = RemoteClient(spec).embed(["a", "b"])
        assert fake.requests[0]["path"] == "/BAAI/bge-small-en-v1.5/pipeline/feature-extraction"
        np.testing.assert_allclose(vectors[1], fake_vector("b", 8))
    with serving(FakeProvider(dim=8)) as fake:
        fake.answer = lambda path, body: [[[0.0] * 8] * 2 for _ in body["inputs"]]  # type: ignore[method-assign]
        spec = RemoteSpec(replace(PROVIDERS["hf"], base_url=fake.url), "some/token-model", dimensions=8)
        with pytest.raises(RemoteError, match="one vector per token"):
            RemoteClient(spec).embed(["a"])


def test_cohere_is_told_whether_it_embeds_queries_or_documents_and_openai_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COHERE_API_KEY", KEY)
    with serving(FakeProvider(dim=384)) as fake:
        cohere = RemoteClient(vendor("cohere", f"{fake.url}/v2", "embed-english-light-v3.0"))
        for task in ("query", "document", None):
            cohere.embed(["a"], task=task)
        openai = RemoteClient(parse_spec(f"openai:m@{fake.url}/v1#384"))
        openai.embed(["a"], task="query")
        openai.embed(["a"])
    assert [request["body"]["input_type"] for request in fake.requests[:3]] == [
        "search_query",
        "search_document",
        "search_document",
    ]
    assert fake.requests[3]["body"] == fake.requests[4]["body"]
    assert "input_type" not in fake.requests[3]["body"]
