from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from embedlab import EmbeddingModel, EmbedlabError, Encoder
from embedlab.serve import MicroBatcher, ServeConfig, create_app, load_api_keys


class FakeEncoder:
    """Vectors of [len(text)]; refuses the text "boom"; records every call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if "boom" in texts:
            raise ValueError("boom is not encodable")
        return np.array([[float(len(t))] for t in texts], dtype=np.float32)


def test_batches_results_and_a_bad_request_fails_alone() -> None:
    fake = FakeEncoder()
    batcher = MicroBatcher(fake, max_batch=64, max_wait=0.05)  # type: ignore[arg-type]

    async def run() -> list[object]:
        return await asyncio.gather(
            batcher.encode(["a", "bb"]), batcher.encode(["boom"]), batcher.encode(["cccc"]), return_exceptions=True
        )

    good, bad, other = asyncio.run(run())
    assert np.asarray(good).ravel().tolist() == [1.0, 2.0] and np.asarray(other).ravel().tolist() == [4.0]
    assert isinstance(bad, ValueError)
    assert fake.calls[0] == ["a", "bb", "boom", "cccc"]  # one shared call first, then one by one


def test_stop_answers_everything_queued_and_the_batcher_survives_a_new_loop() -> None:
    fake = FakeEncoder()
    batcher = MicroBatcher(fake, max_batch=2, max_wait=0.5)  # type: ignore[arg-type]

    async def run() -> list[np.ndarray]:
        pending = [asyncio.ensure_future(batcher.encode([str(i) * (i + 1)])) for i in range(5)]
        await asyncio.sleep(0.01)
        await batcher.stop()
        return [await p for p in pending]

    assert [float(v[0, 0]) for v in asyncio.run(run())] == [1.0, 2.0, 3.0, 4.0, 5.0]

    async def again() -> np.ndarray:
        return await batcher.encode(["xy"])

    assert float(asyncio.run(again())[0, 0]) == 2.0  # a second event loop: the worker restarts


def test_requests_whose_caller_left_are_not_encoded() -> None:
    fake = FakeEncoder()
    batcher = MicroBatcher(fake, max_batch=64, max_wait=0.2)  # type: ignore[arg-type]

    async def run() -> np.ndarray:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(batcher.encode(["gone"]), 0.01)
        return await batcher.encode(["kept"])

    asyncio.run(run())
    assert fake.calls == [["kept"]]


def test_server_edges(model: EmbeddingModel, tmp_path: Path) -> None:
    strict = Encoder(model, max_chars=200)
    app = create_app(ServeConfig(api_keys=frozenset({"k"})), encoder=strict)
    with TestClient(app) as client:
        assert client.get("/metrics", headers={"Authorization": b"Bearer \xff"}).status_code == 401  # not a 500
        headers = {"Authorization": "Bearer k"}
        long_one = client.post(
            "/v1/embeddings", headers=headers, json={"model": "all-MiniLM-L6-v2", "input": "x" * 300}
        )
        assert long_one.status_code == 422  # the encoder's own stricter limit, checked per request
        assert client.get("/random-path").status_code == 401
        metrics = client.get("/metrics", headers=headers).text
        assert "random-path" not in metrics  # unknown paths do not grow the metrics
        assert client.post("/v1/embeddings", headers=headers, content=b"{not json").json()["error"]["param"] is None
        wrong_method = client.put("/v1/models", headers=headers)
        assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["allow"]
    keys = tmp_path / "keys"
    keys.write_text("key1 # prod\n")
    with pytest.raises(EmbedlabError, match="whitespace"):
        load_api_keys(path=keys)
