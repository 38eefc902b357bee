from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from openai import AuthenticationError, NotFoundError, OpenAI

from embedlab import Encoder
from embedlab.index import Index, SearchOptions
from embedlab.serve import ServeConfig, create_app, load_api_keys

from .conftest import running

TEXTS = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
KEY = "test-key-123"


@pytest.fixture(scope="module")
def server(model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("served")
    index = Index.create(folder / "docs", Encoder(model))
    index.add([{"id": "cat", "text": "The cat sleeps on the windowsill."}, {"id": "bank", "text": "Rates rose."}])
    config = ServeConfig(api_keys=frozenset({KEY}), indexes={"docs": str(folder / "docs")}, max_inputs=8,
                         max_chars=1000, max_body_bytes=20_000, max_wait=0.02)  # fmt: skip
    with running(create_app(config, encoder=Encoder(model))) as url:
        yield url


def test_openai_client_gets_embedlab_vectors(server: str, encoder: Encoder) -> None:
    client = OpenAI(base_url=f"{server}/v1", api_key=KEY)
    response = client.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS, encoding_format="float")
    vectors = np.array([item.embedding for item in response.data])
    np.testing.assert_allclose(vectors, encoder.encode(TEXTS), atol=1e-6)
    # wordpieces, no [CLS]/[SEP]: the weather is lovely today . / it ' s so sunny outside ! / he drove to the stadium .
    assert response.usage.prompt_tokens == 6 + 7 + 6
    assert [m.id for m in client.models.list()] == ["all-MiniLM-L6-v2"]


def test_base64_and_dimensions(server: str, encoder: Encoder) -> None:
    raw = httpx.post(f"{server}/v1/embeddings", headers={"Authorization": f"Bearer {KEY}"},
                     json={"model": "all-MiniLM-L6-v2", "input": TEXTS[0], "encoding_format": "base64"})  # fmt: skip
    decoded = np.frombuffer(base64.b64decode(raw.json()["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(decoded, encoder.encode(TEXTS[0]), atol=1e-6)
    client = OpenAI(base_url=f"{server}/v1", api_key=KEY)
    short = np.array(
        client.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS[:1], dimensions=64).data[0].embedding
    )
    full = encoder.encode(TEXTS[0])[:64]
    np.testing.assert_allclose(short, full / np.linalg.norm(full), atol=1e-6)  # Matryoshka-style, re-normalised


def test_keys_unknown_models_and_limits(server: str) -> None:
    with pytest.raises(AuthenticationError):
        OpenAI(base_url=f"{server}/v1", api_key="wrong").embeddings.create(model="all-MiniLM-L6-v2", input="x")
    with pytest.raises(NotFoundError):
        OpenAI(base_url=f"{server}/v1", api_key=KEY).embeddings.create(model="text-embedding-3-small", input="x")
    headers = {"Authorization": f"Bearer {KEY}"}

    def post(body: object) -> httpx.Response:
        return httpx.post(f"{server}/v1/embeddings", headers=headers, json=body)

    too_many = post({"model": "all-MiniLM-L6-v2", "input": ["x"] * 9})
    assert too_many.status_code == 422 and "at most 8" in too_many.json()["error"]["message"]
    assert post({"model": "all-MiniLM-L6-v2", "input": "x" * 1001}).status_code == 422
    assert post({"model": "all-MiniLM-L6-v2", "input": ["ok", "  "]}).json()["error"]["param"] == "input"
    assert post({"model": "all-MiniLM-L6-v2", "input": "x" * 25_000}).status_code == 413
    assert post({"model": "all-MiniLM-L6-v2", "input": [1, 2, 3]}).status_code == 422
    assert post({"model": "all-MiniLM-L6-v2", "input": "x", "dimensions": 999}).status_code == 422
    assert httpx.get(f"{server}/health").json()["status"] == "ok"  # health needs no key
    assert httpx.get(f"{server}/metrics").status_code == 401


def test_concurrent_requests_are_batched(server: str, encoder: Encoder) -> None:
    async def many() -> list[httpx.Response]:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as client:
            return await asyncio.gather(*(
                client.post(f"{server}/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": f"text {i}"})
                for i in range(24)
            ))  # fmt: skip

    responses = asyncio.run(many())
    assert all(r.status_code == 200 for r in responses)
    for i, response in enumerate(responses):
        np.testing.assert_allclose(response.json()["data"][0]["embedding"], encoder.encode(f"text {i}"), atol=1e-5)
    metrics = httpx.get(f"{server}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    sizes = {
        line.split()[0]: float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("embedlab_batch_size_")
    }
    assert sizes["embedlab_batch_size_count"] < sizes["embedlab_batch_size_sum"]  # fewer batches than texts


def test_search_and_rerank_endpoints(server: str) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    found = httpx.post(f"{server}/v1/search", headers=headers, json={"index": "docs", "query": "kitten", "k": 1})
    assert found.json()["data"][0]["doc_id"] == "cat"
    missing = httpx.post(f"{server}/v1/search", headers=headers, json={"index": "nope", "query": "x"})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    assert (
        httpx.post(f"{server}/v1/rerank", headers=headers, json={"query": "q", "documents": ["a"]}).status_code == 404
    )


def test_served_reranker_scores_and_reranks_search(model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import torch
    from sentence_transformers import CrossEncoder

    from embedlab.models import bundled_model_dir

    torch.manual_seed(0)
    cross = CrossEncoder(str(bundled_model_dir()), num_labels=1, device="cpu")  # an untrained head is enough here
    cross.save(str(tmp_path / "ce"))
    index = Index.create(tmp_path / "docs", Encoder(model))
    index.add([{"id": str(i), "text": f"Note {i} on topic {i % 3}."} for i in range(8)])
    config = ServeConfig(api_keys=frozenset({KEY}), indexes={"docs": str(tmp_path / "docs")},
                         reranker=str(tmp_path / "ce"), max_wait=0.02)  # fmt: skip
    headers = {"Authorization": f"Bearer {KEY}"}
    documents = ["Note 1 on topic 1.", "Something else.", "Topic two, note two."]
    expected = cross.predict([("topic 1", doc) for doc in documents])
    with running(create_app(config, encoder=Encoder(model))) as url:
        request = {"query": "topic 1", "documents": documents, "top_n": 2}
        scored = httpx.post(f"{url}/v1/rerank", headers=headers, json=request).json()["results"]
        body = {"index": "docs", "query": "topic 1", "k": 5, "rerank": True, "rerank_top": 8}
        served = {
            fusion: httpx.post(f"{url}/v1/search", headers=headers, json={**body, "rerank_fusion": fusion}).json()
            for fusion in ("rrf", "replace")
        }
        bad = httpx.post(f"{url}/v1/search", headers=headers, json={**body, "rerank_fusion": "max"})
    assert [r["index"] for r in scored] == list(np.argsort(-expected, kind="stable")[:2])
    assert [r["relevance_score"] for r in scored] == pytest.approx(sorted(expected, reverse=True)[:2], abs=1e-5)
    for fusion, answer in served.items():
        local = index.search("topic 1", 5, rerank=cross, rerank_top=8, rerank_fusion=fusion)
        assert [hit["doc_id"] for hit in answer["data"]] == [hit.doc_id for hit in local], fusion
    assert bad.status_code == 422


def test_search_takes_every_option_of_index_search(model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    index = Index.create(tmp_path / "docs", Encoder(model), metadata_fields=["lang"])
    pets = ["dogs", "birds"]
    index.add([{"id": str(i), "text": f"Note {i}: cats and {pets[i % 2]}.", "lang": "en" if i % 3 else "fr"}
               for i in range(9)])  # fmt: skip
    app = create_app(ServeConfig(indexes={"docs": str(tmp_path / "docs")}, max_chars=200, max_wait=0.02),
                     encoder=Encoder(model))  # fmt: skip
    fields = app.openapi()["components"]["schemas"]["SearchRequest"]["properties"]
    assert set(fields) == {field.name for field in dataclasses.fields(SearchOptions)} | {"index", "query", "k"}
    options = {"mode": "hybrid", "fusion": "weighted", "alpha": 0.3, "min_score": 0.2, "candidates": 5,
               "filter": "lang = 'en'"}  # fmt: skip
    with running(app) as url:
        served = httpx.post(f"{url}/v1/search", json={"index": "docs", "query": "cats and dogs", "k": 4, **options})
        too_long = httpx.post(f"{url}/v1/search", json={"index": "docs", "query": "x" * 201})
        out_of_bounds = httpx.post(f"{url}/v1/search", json={"index": "docs", "query": "cats", "alpha": 2})
    local = index.search("cats and dogs", 4, **options)
    assert local and [hit["doc_id"] for hit in served.json()["data"]] == [hit.doc_id for hit in local]
    assert [hit["score"] for hit in served.json()["data"]] == pytest.approx([hit.score for hit in local], abs=1e-6)
    assert too_long.status_code == 422 and too_long.json()["error"]["param"] == "query"  # as /v1/embeddings' limit
    assert out_of_bounds.status_code == 422 and out_of_bounds.json()["error"]["param"] == "alpha"


def test_keys_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDLAB_API_KEYS", "a, b")
    path = tmp_path / "keys"
    path.write_text("# comment\nc\n\n")
    assert load_api_keys(path=path) == {"a", "b", "c"}


def test_openapi_schema_lists_the_endpoints(server: str) -> None:
    paths = json.loads(httpx.get(f"{server}/openapi.json", headers={"Authorization": f"Bearer {KEY}"}).text)["paths"]
    assert {"/v1/embeddings", "/v1/models", "/v1/search", "/v1/rerank", "/health", "/metrics"} <= set(paths)


def test_graceful_shutdown_answers_requests_in_flight(model) -> None:  # type: ignore[no-untyped-def]
    import threading
    import time

    import uvicorn

    from .conftest import free_port

    app = create_app(ServeConfig(max_wait=5.0), encoder=Encoder(model))  # a slow batch window keeps them in flight
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    results: list[int] = []

    def call(i: int) -> None:
        texts = [f"in flight {i}, text {j}: " + "more words " * ((i * 7 + j) % 13) for j in range(12)]  # distinct
        response = httpx.post(f"http://127.0.0.1:{port}/v1/embeddings", timeout=60,
                              json={"model": "all-MiniLM-L6-v2", "input": texts})  # fmt: skip
        results.append(response.status_code)

    callers = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for caller in callers:
        caller.start()
    deadline = time.monotonic() + 30
    while server.server_state.total_requests < 16 and time.monotonic() < deadline:
        time.sleep(0.02)  # every request has reached the server (a busy machine may take a while to send them)
    server.should_exit = True  # what SIGTERM does, while they wait in the batch window
    for caller in callers:
        caller.join(60)
    thread.join(60)
    assert results == [200] * 16  # before: some 500 (the usage counts and the encoder shared the tokenizer)


def test_cors_is_off_unless_asked(server: str, model) -> None:  # type: ignore[no-untyped-def]
    preflight = {"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in httpx.options(f"{server}/v1/embeddings", headers=preflight).headers
    app = create_app(ServeConfig(cors_origins=("https://example.org",)), encoder=Encoder(model))
    with running(app) as url:
        allowed = httpx.options(f"{url}/v1/embeddings", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://example.org"
