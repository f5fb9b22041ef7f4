"""Precise absolute-deadline sleeps for asyncio code.

asyncio's own timers fire up to a millisecond late (epoll's timeout has millisecond resolution and the
loop rounds), so a scripted inter-token gap of 10 ms would come out as 10-11 ms. One thread waits on a
condition variable (sub-100 µs wake-ups on Linux) and resolves each waiter's future at its deadline.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time


class PreciseTimer:
    """``await timer.sleep_until(deadline)`` with ``deadline`` on the time.perf_counter() clock."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._running = True
        self._thread = threading.Thread(target=self._run, name="capplan-precise-timer", daemon=True)
        self._thread.start()

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= time.perf_counter():
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._order), loop, fut))
            self._cond.notify()
        await fut

    def _run(self) -> None:
        with self._cond:
            while self._running:
                if not self._heap:
                    self._cond.wait()
                    continue
                wait_s = self._heap[0][0] - time.perf_counter()
                if wait_s > 0:
                    self._cond.wait(timeout=wait_s)
                    continue
                _, _, loop, fut = heapq.heappop(self._heap)
                if not loop.is_closed():
                    loop.call_soon_threadsafe(_resolve, fut)

    def close(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify()
        self._thread.join(timeout=1.0)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
