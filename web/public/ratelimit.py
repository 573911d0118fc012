"""A per-client sliding-window limit for the folio lookup (so folios cannot be enumerated).

In process memory, one per web worker: with N workers a client gets at most N times the limit. The client
address is the ASGI client's host; behind a reverse proxy run uvicorn with ``--proxy-headers`` and
``--forwarded-allow-ips`` so that it is the visitor's address, not the proxy's.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindowLimit:
    """At most ``limit`` hits per ``window`` seconds per key; remembers at most ``max_keys`` keys (LRU)."""

    def __init__(self, limit: int, window: float, *, max_keys: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Record a hit; 0.0 when allowed, else the seconds to wait (the hit is not recorded)."""
        now = self.clock()
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            self._hits[key] = hits
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
            if len(hits) >= self.limit:
                return max(0.0, hits[0] + self.window - now)
            hits.append(now)
            return 0.0
