"""Dynamic micro-batching: concurrent requests share forward passes without blocking the event loop.

Requests put their texts on a queue and await a future. One worker takes requests until the batch holds
``max_batch`` texts or ``max_wait`` seconds have passed since the first one, encodes them in one call on
a worker thread (the event loop keeps serving), and hands every request its rows. A request larger than
``max_batch`` is encoded ``max_batch`` texts at a time, taking turns with the other waiting requests (new
ones first), so a small request sent while a large one is encoding goes into the next batch instead of
waiting for the large one to finish.
A request whose caller has gone (timed out) is not encoded further; if a batch fails, its requests are
retried one by one so that a bad request fails alone. :meth:`MicroBatcher.stop` answers everything queued
before it returns.

Example:
    >>> batcher = MicroBatcher(Encoder(), max_batch=64, max_wait=0.005)  # doctest: +SKIP
    >>> encoded = await batcher.encode(["hello", "world"])  # await needs a running event loop  # doctest: +SKIP
    >>> encoded.vectors.shape, encoded.n_tokens.tolist()  # doctest: +SKIP
    ((2, 384), [3, 3])
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from embedlab.encode import Encoded, Encoder


@dataclass
class _Request:
    texts: Sequence[str]
    future: asyncio.Future[Encoded]
    done: int = 0  # texts already taken into a batch
    parts: list[Encoded] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return len(self.texts) - self.done


@dataclass
class _Slice:
    request: _Request
    start: int
    end: int


_STOP = None  # put on the queue by stop(): everything before it is answered first


class MicroBatcher:
    """Batch concurrent :meth:`encode` calls into shared encoder calls.

    Args:
        encoder: the encoder (float32 vectors and token counts, from :meth:`Encoder.encode_with_counts`).
        max_batch: most texts in one encoder call; larger requests are split and take turns.
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

    async def encode(self, texts: Sequence[str]) -> Encoded:
        """The float32 vectors and token counts of ``texts``, encoded together with other requests' texts."""
        if not texts:
            return await asyncio.to_thread(self.encoder.encode_with_counts, texts)
        self.start()
        assert self._queue is not None
        future: asyncio.Future[Encoded] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(texts, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        waiting: deque[_Request] = deque()  # requests with texts not yet taken, in turn order
        stopping = False
        while waiting or not stopping:
            if not waiting:
                first = await queue.get()
                if first is _STOP:
                    stopping = True
                    continue
                waiting.append(first)
            if not stopping:
                stopping = await self._gather(queue, waiting)
            await self._encode(self._take(waiting))
        while not queue.empty():  # requests that came after stop(): answered too
            request = queue.get_nowait()
            if request is not _STOP:
                await self._encode([_Slice(request, 0, len(request.texts))])

    async def _gather(self, queue: asyncio.Queue[_Request | None], waiting: deque[_Request]) -> bool:
        """Move every queued request to ``waiting``, and wait up to ``max_wait`` for ``max_batch`` texts.

        Returns whether :meth:`stop` was called.
        """
        deadline = time.monotonic() + self.max_wait
        while True:
            if queue.empty():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or sum(request.remaining for request in waiting) >= self.max_batch:
                    return False
                try:
                    request = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    return False
            else:
                request = queue.get_nowait()
            if request is _STOP:
                return True
            waiting.append(request)

    def _take(self, waiting: deque[_Request]) -> list[_Slice]:
        """Up to ``max_batch`` texts: requests not started yet first, then a turn for each started one.

        Requests left with texts go behind those that did not get a turn.
        """
        batch: list[_Slice] = []
        served: list[_Request] = []
        size = 0
        pending = sorted(waiting, key=lambda request: request.done > 0)  # stable: arrival order, then turn order
        waiting.clear()
        for request in pending:
            if request.future.done():  # the caller timed out, or an earlier slice failed
                continue
            if size >= self.max_batch:
                waiting.append(request)
                continue
            end = request.done + min(request.remaining, self.max_batch - size)
            batch.append(_Slice(request, request.done, end))
            size += end - request.done
            request.done = end
            if request.remaining:
                served.append(request)
        waiting.extend(served)
        return batch

    async def _encode(self, batch: list[_Slice]) -> None:
        batch = [piece for piece in batch if not piece.request.future.done()]  # callers that timed out are gone
        if not batch:
            return
        texts = [text for piece in batch for text in piece.request.texts[piece.start : piece.end]]
        try:
            encoded = await asyncio.to_thread(self.encoder.encode_with_counts, texts)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].request.future.set_exception(exc)
            else:  # find the culprit: each request's slice on its own
                for piece in batch:
                    await self._encode([piece])
            return
        if self.on_batch is not None:
            self.on_batch(len(texts))
        start = 0
        for piece in batch:
            stop = start + piece.end - piece.start
            request = piece.request
            request.parts.append(Encoded(encoded.vectors[start:stop], encoded.n_tokens[start:stop]))
            if piece.end == len(request.texts) and not request.future.done():
                request.future.set_result(_joined(request.parts))
            start = stop


def _joined(parts: list[Encoded]) -> Encoded:
    if len(parts) == 1:
        return parts[0]
    return Encoded(np.concatenate([part.vectors for part in parts]), np.concatenate([part.n_tokens for part in parts]))
