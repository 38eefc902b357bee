"""Dynamic micro-batching: concurrent requests share forward passes without blocking the event loop.

Requests put their texts on a queue and await a future. One worker takes requests until the batch holds
``max_batch`` texts or ``max_wait`` seconds have passed since the first one, encodes them in one call on
a worker thread (the event loop keeps serving), and hands every request its rows. A request whose caller
has gone (timed out) is not encoded; if a batch fails, its requests are retried one by one so that a bad
request fails alone. :meth:`MicroBatcher.stop` answers everything queued before it returns.

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


_STOP = None  # put on the queue by stop(): everything before it is answered first


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
        self._queue: asyncio.Queue[_Request | None] | None = None
        self._worker: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        """Requests waiting."""
        return 0 if self._queue is None else self._queue.qsize()

    def start(self) -> None:
        """Start the worker in the running event loop (again, if it stopped or belongs to another loop)."""
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done() or self._worker.get_loop() is not loop:
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._run())

    async def stop(self) -> None:
        """Answer every request queued so far, then stop the worker."""
        if self._worker is None or self._queue is None or self._worker.done():
            return
        await self._queue.put(_STOP)
        await self._worker

    async def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The float32 vectors of ``texts``, encoded together with other requests' texts."""
        self.start()
        assert self._queue is not None
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(texts, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        stopping = False
        while not stopping:
            first = await queue.get()
            if first is _STOP:
                return
            batch, size = [first], len(first.texts)
            deadline = time.monotonic() + self.max_wait
            while size < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    request = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
                if request is _STOP:
                    stopping = True
                    break
                batch.append(request)
                size += len(request.texts)
            await self._encode(batch)

    async def _encode(self, batch: list[_Request]) -> None:
        waiting = [request for request in batch if not request.future.done()]  # callers that timed out are gone
        if not waiting:
            return
        try:
            vectors = await asyncio.to_thread(self.encoder.encode, [t for request in waiting for t in request.texts])
        except Exception as exc:
            if len(waiting) == 1:
                waiting[0].future.set_exception(exc)
            else:  # find the culprit: each request on its own
                for request in waiting:
                    await self._encode([request])
            return
        if self.on_batch is not None:
            self.on_batch(len(vectors))
        start = 0
        for request in waiting:
            if not request.future.done():
                request.future.set_result(vectors[start : start + len(request.texts)])
            start += len(request.texts)
