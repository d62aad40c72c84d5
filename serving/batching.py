"""Score concurrent requests together: the fixed cost of a batch is paid once.

Greedy batching: the first request is scored at once; requests that arrive while a batch
is being scored wait and go together into the next one (up to ``max_runs`` runs). Nothing
waits for a timer, so a lone client sees no added latency, and under load the batch grows
with the queue. One run's result never depends on its neighbours (see
:mod:`serving.engine`), so batching changes speed only. If a batch fails, each request in it
is retried alone, so one request cannot fail another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

Runs = list[dict[str, Any]]


class Batcher:
    """Greedy batching of concurrent requests onto one scoring thread."""

    def __init__(self, score: Callable[[Runs], list[Any]], executor: Executor, max_runs: int):
        self.score = score
        self.executor = executor
        self.max_runs = max_runs
        self.queue: list[tuple[Runs, asyncio.Future]] = []
        self.busy = False
        self.drainer: asyncio.Task | None = None
        self.batches = 0
        self.largest = 0

    async def submit(self, runs: Runs) -> list[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self.queue.append((runs, future))
        if not self.busy:
            self.busy = True
            self.drainer = loop.create_task(self._drain())
        return await future

    def _take(self) -> list[tuple[Runs, asyncio.Future]]:
        taken: list[tuple[Runs, asyncio.Future]] = []
        n = 0
        while self.queue and (not taken or n + len(self.queue[0][0]) <= self.max_runs):
            item = self.queue.pop(0)
            taken.append(item)
            n += len(item[0])
        return taken

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.queue:
                taken = self._take()
                runs = [r for item, _ in taken for r in item]
                self.batches += 1
                self.largest = max(self.largest, len(taken))
                try:
                    results = await loop.run_in_executor(self.executor, self.score, runs)
                except Exception:
                    await self._one_by_one(taken)
                    continue
                start = 0
                for item, fut in taken:
                    if not fut.done():
                        fut.set_result(results[start : start + len(item)])
                    start += len(item)
        finally:
            self.busy = False

    async def _one_by_one(self, taken: list[tuple[Runs, asyncio.Future]]) -> None:
        loop = asyncio.get_running_loop()
        for item, fut in taken:
            try:
                res = await loop.run_in_executor(self.executor, self.score, item)
            except Exception as exc:
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(res)
