"""The real server under concurrent load: many clients, distinct multi-text requests, searches, big and small."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from embedlab import EmbeddingModel, Encoder
from embedlab.encode.text import token_counts
from embedlab.index import Index
from embedlab.serve import ServeConfig, create_app

from .conftest import running

WORDS = ["river", "bank", "money", "loan", "stream", "water", "fish", "boat", "bridge", "city", "market", "price",
         "rate", "flood", "rain", "storm", "ship", "law", "court", "bird", "song", "tree", "leaf", "path"]  # fmt: skip
HEADERS = {"Authorization": "Bearer load-key"}


def texts(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct sentences of 3 to 40 words."""
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))) + f" ({rng.random():.6f})" for _ in range(n)]


@pytest.fixture(scope="module")
def server(model: EmbeddingModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("load") / "docs"
    index = Index.create(folder, Encoder(model))
    index.add([{"id": str(i), "text": text} for i, text in enumerate(texts(random.Random(1), 30))])
    config = ServeConfig(api_keys=frozenset({"load-key"}), indexes={"docs": str(folder)}, max_batch=16,
                         max_wait=0.005, timeout=240)  # fmt: skip
    with running(create_app(config, encoder=Encoder(model))) as url:
        yield url


@pytest.mark.slow
def test_forty_concurrent_clients_with_distinct_texts_and_searches(server: str, model: EmbeddingModel) -> None:
    rng = random.Random(0)
    requests = [texts(rng, rng.randint(2, 12)) for _ in range(80)]  # 2 embedding requests per client
    queries = texts(rng, 40)  # and 1 search each

    async def client(session: httpx.AsyncClient, i: int) -> list[httpx.Response]:
        answers = []
        for body in (requests[2 * i], queries[i], requests[2 * i + 1]):
            if isinstance(body, str):
                answers.append(await session.post("/v1/search", json={"index": "docs", "query": body, "k": 3}))
            else:
                answers.append(await session.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": body}))
        return answers

    async def load() -> list[list[httpx.Response]]:
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(base_url=server, headers=HEADERS, timeout=240, limits=limits) as session:
            return await asyncio.wait_for(asyncio.gather(*(client(session, i) for i in range(40))), 600)

    answers = asyncio.run(load())
    statuses = [response.status_code for per_client in answers for response in per_client]
    assert len(statuses) == 120 and [s for s in statuses if s != 200] == []  # before: 500 "Already borrowed"
    sent = [requests[2 * i + j] for i in range(40) for j in (0, 1)]
    flat = Encoder(model).encode([text for body in sent for text in body])
    expected = np.split(flat, np.cumsum([len(body) for body in sent])[:-1])
    for i, per_client in enumerate(answers):
        for j, response in ((0, per_client[0]), (1, per_client[2])):
            vectors = np.array([item["embedding"] for item in response.json()["data"]])
            np.testing.assert_allclose(vectors, expected[2 * i + j], atol=1e-5)
            wordpieces = sum(n - 2 for n in token_counts(model.st.tokenizer, sent[2 * i + j]))  # no [CLS] and [SEP]
            assert response.json()["usage"]["prompt_tokens"] == wordpieces
        assert len(per_client[1].json()["data"]) == 3


@pytest.mark.slow
def test_a_small_request_sent_while_a_large_one_is_encoding(server: str) -> None:
    large = texts(random.Random(2), 400)  # 25 batches of max_batch=16

    async def run() -> tuple[httpx.Response, httpx.Response, bool]:
        async with httpx.AsyncClient(base_url=server, headers=HEADERS, timeout=240) as session:

            async def texts_encoded() -> float:
                metrics = (await session.get("/metrics")).text.splitlines()
                return next(float(line.split()[1]) for line in metrics if line.startswith("embedlab_batch_size_sum"))

            before = await texts_encoded()
            big = asyncio.ensure_future(
                session.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": large})
            )
            for _ in range(2400):  # until the large request's first batch is done (bounded: 2 minutes)
                if await texts_encoded() >= before + 16:
                    break
                await asyncio.sleep(0.05)
            small = await session.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": ["a small one"]})
            big_done_first = big.done()
            return await big, small, big_done_first

    big, small, big_done_first = asyncio.run(run())
    assert (big.status_code, small.status_code) == (200, 200)  # before: 500, or the small one waited
    assert not big_done_first  # answered while the large request was still being encoded
    assert len(big.json()["data"]) == 400
