"""Dynamic micro-batching: concurrent requests share forward passes without blocking the event loop.

Requests put their texts on a queue and await a future. One worker takes requests until the batch holds
``max_batch`` texts or ``max_wait`` seconds have passed since the first one, encodes them in one call on
a worker thread (the event loop keeps serving), and hands every request its rows. The encoder's cache
is used as usual.

Example:
    >>> batcher = MicroBatcher(Encoder(), max_batch=64, max_wait=0.005)  # doctest: +SKIP
    >>> vectors = await batcher.encode(["hello", "world"])  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from embedlab.encode import Encoder


@dataclass
class _Request:
    texts: Sequence[str]
    future: asyncio.Future[np.ndarray]


class MicroBatcher:
    """Batch concurrent :meth:`encode` calls into shared encoder calls.

    Args:
        encoder: the encoder (float32 vectors).
        max_batch: most texts in one encoder call (a single larger request is encoded alone).
        max_wait: seconds the first request of a batch waits for company.
        on_batch: called with the size of each batch run (for metrics).
    """

    def __init__(
        self,
        encoder: Encoder,
        *,
        max_batch: int = 64,
        max_wait: float = 0.005,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.encoder = encoder
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        """Requests waiting."""
        return self._queue.qsize()

    def start(self) -> None:
        """Start the worker (inside a running event loop)."""
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Finish every queued request, then stop the worker."""
        while not self._queue.empty():
            await asyncio.sleep(0.01)
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None

    async def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The float32 vectors of ``texts``, encoded together with other requests' texts."""
        self.start()
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(texts, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            size = len(batch[0].texts)
            deadline = time.monotonic() + self.max_wait
            while size < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    request = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
                batch.append(request)
                size += len(request.texts)
            await self._encode(batch, size)

    async def _encode(self, batch: list[_Request], size: int) -> None:
        texts = [text for request in batch for text in request.texts]
        try:
            vectors = await asyncio.to_thread(self.encoder.encode, texts)
        except Exception as exc:  # each request gets the error; the worker lives on
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        if self.on_batch is not None:
            self.on_batch(size)
        start = 0
        for request in batch:
            if not request.future.done():
                request.future.set_result(vectors[start : start + len(request.texts)])
            start += len(request.texts)
