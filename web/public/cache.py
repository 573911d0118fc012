"""Computed figures kept for a minute: the public pages and the dashboards serve the last computation of a view
and recompute it in the background when it is older than ``fresh_for`` (stale-while-revalidate).

A view (a department's page, a dashboard for a scope and date range) is computed by ``ticketing.indicators``
from the tickets; at a million tickets that costs a few hundred milliseconds of both database and Python, which
every visitor would otherwise pay. Here the first visitor of a view pays it; later visitors get the figures of
at most ``fresh_for`` seconds ago (the pages print when they were computed) while one background thread brings
them up to date. An entry older than ``keep_for`` is recomputed before answering. One cache per web process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    value: Any
    at: float
    refreshing: bool = False


class FigureCache:
    """``get(key, compute)``: the cached value of ``key``, computing or refreshing it as described above.

    ``fresh_for=0`` turns the cache off (every call computes: tests of fresh data, the benchmark's cold runs).
    """

    def __init__(self, *, fresh_for: float = 60.0, keep_for: float = 600.0, max_entries: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fresh_for = fresh_for
        self.keep_for = keep_for
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        if self.fresh_for <= 0:
            return compute()
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                age = now - entry.at
                if age < self.fresh_for:
                    return entry.value
                if age < self.keep_for:
                    if not entry.refreshing:
                        entry.refreshing = True
                        self._refresh(key, compute)
                    return entry.value
        value = compute()
        self._store(key, value)
        return value

    def _store(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._entries[key] = _Entry(value, self.clock())
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def _refresh(self, key: Hashable, compute: Callable[[], Any]) -> None:
        """Recompute ``key`` in the background thread; called with the lock held."""

        def run() -> None:
            try:
                self._store(key, compute())
            except Exception:
                log.exception("recomputing figures for %r failed; serving the previous ones", key)
                with self._lock:
                    entry = self._entries.get(key)
                    if entry is not None:
                        entry.refreshing = False

        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="figures")
        self._pool.submit(run)

    def drain(self) -> None:
        """Wait until the background recomputations asked for so far are done (tests)."""
        if self._pool is not None:
            self._pool.submit(lambda: None).result()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
