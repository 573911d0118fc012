"""One long-lived asyncio event loop in a daemon thread, for async SDKs (python-telegram-bot) used from
synchronous code: the outbox dispatcher's worker threads and the pipeline call ``LoopThread.run(coro)``.

Why a thread and not an async ``Sender``: the dispatcher, the pipeline and the CLI are synchronous and run in
worker threads; PTB's ``Bot`` (its httpx client and its rate limiter) must live on one loop, so that loop is
owned here and every call is submitted to it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str = "reporta-aio") -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        self._loop.run_forever()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for it; ``TimeoutError`` (and the coroutine cancelled) past ``timeout``."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
