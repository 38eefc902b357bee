from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from embedlab import EmbeddingModel, EmbedlabError, Encoder
from embedlab.encode import Encoded
from embedlab.serve import MicroBatcher, ServeConfig, create_app, load_api_keys


class FakeEncoder:
    """Vectors of [len(text)] and len(text) tokens; refuses the text "boom"; records every call.

    With a ``gate``, the first call waits until the gate opens (a batch "being encoded").
    """

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[list[str]] = []
        self.gate = gate

    def encode_with_counts(self, texts: Sequence[str]) -> Encoded:
        self.calls.append(list(texts))
        if self.gate is not None and len(self.calls) == 1:
            self.gate.wait(30)
        if "boom" in texts:
            raise ValueError("boom is not encodable")
        return Encoded(np.array([[float(len(t))] for t in texts], dtype=np.float32), np.array([len(t) for t in texts]))


def test_batches_results_and_a_bad_request_fails_alone() -> None:
    fake = FakeEncoder()
    batcher = MicroBatcher(fake, max_batch=64, max_wait=0.05)  # type: ignore[arg-type]

    async def run() -> list[object]:
        return await asyncio.gather(
            batcher.encode(["a", "bb"]), batcher.encode(["boom"]), batcher.encode(["cccc"]), return_exceptions=True
        )

    good, bad, other = asyncio.run(run())
    assert isinstance(good, Encoded) and isinstance(other, Encoded)
    assert good.vectors.ravel().tolist() == [1.0, 2.0] and good.n_tokens.tolist() == [1, 2]
    assert other.vectors.ravel().tolist() == [4.0]
    assert isinstance(bad, ValueError)
    assert fake.calls[0] == ["a", "bb", "boom", "cccc"]  # one shared call first, then one by one


def test_stop_answers_everything_queued_and_the_batcher_survives_a_new_loop() -> None:
    fake = FakeEncoder()
    batcher = MicroBatcher(fake, max_batch=2, max_wait=0.5)  # type: ignore[arg-type]

    async def run() -> list[Encoded]:
        pending = [asyncio.ensure_future(batcher.encode([str(i) * (i + 1)])) for i in range(5)]
        await asyncio.sleep(0.01)
        await batcher.stop()
        return [await p for p in pending]

    assert [float(e.vectors[0, 0]) for e in asyncio.run(run())] == [1.0, 2.0, 3.0, 4.0, 5.0]

    async def again() -> Encoded:
        return await batcher.encode(["xy"])

    assert float(asyncio.run(again()).vectors[0, 0]) == 2.0  # a second event loop: the worker restarts


def test_requests_whose_caller_left_are_not_encoded() -> None:
    fake = FakeEncoder()
    batcher = MicroBatcher(fake, max_batch=64, max_wait=0.2)  # type: ignore[arg-type]

    async def run() -> Encoded:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(batcher.encode(["gone"]), 0.01)
        return await batcher.encode(["kept"])

    asyncio.run(run())
    assert fake.calls == [["kept"]]


def test_a_small_request_is_answered_while_a_large_one_is_encoding() -> None:
    gate = threading.Event()
    fake = FakeEncoder(gate)
    batcher = MicroBatcher(fake, max_batch=10, max_wait=0.01)  # type: ignore[arg-type]
    large = ["x" * n for n in range(1, 101)]

    async def run() -> tuple[Encoded, Encoded, bool]:
        big = asyncio.ensure_future(batcher.encode(large))
        for _ in range(5000):  # until the large request's first batch is being encoded (held at the gate)
            if fake.calls:
                break
            await asyncio.sleep(0.001)
        small_task = asyncio.ensure_future(batcher.encode(["small"]))
        await asyncio.sleep(0.05)  # the small request is queued
        gate.set()
        small = await small_task
        big_done_first = big.done()
        return await big, small, big_done_first

    big, small, big_done_first = asyncio.run(run())
    assert not big_done_first  # before: the large request was one call of 100 texts, and the small one waited for it
    assert max(len(call) for call in fake.calls) == 10  # a large request is encoded max_batch texts at a time
    assert "small" in fake.calls[1]  # taking turns: the small one goes into the very next batch
    assert big.vectors.ravel().tolist() == [float(n) for n in range(1, 101)]  # every row in its place
    assert big.n_tokens.tolist() == list(range(1, 101)) and small.vectors.ravel().tolist() == [5.0]


def test_a_failing_slice_fails_its_request_alone_and_stops_it() -> None:
    fake = FakeEncoder()
    batcher = MicroBatcher(fake, max_batch=4, max_wait=0.05)  # type: ignore[arg-type]

    async def run() -> list[object]:
        return await asyncio.gather(
            batcher.encode(["a", "b", "c", "d", "boom", "e", "f", "g", "h", "i"]), batcher.encode(["ok"]),
            return_exceptions=True,
        )  # fmt: skip

    bad, good = asyncio.run(run())
    assert isinstance(bad, ValueError) and isinstance(good, Encoded) and good.vectors.ravel().tolist() == [2.0]
    assert not any("i" in call for call in fake.calls)  # the failed request's last slice is not encoded


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
