"""Thread-safe send pacing for the dispatcher: a token bucket per channel and a minimum gap per chat.

Telegram allows about 30 messages/s overall and 1/s per chat; Twilio's rate is per sender number and
configured (``REPORTA_TWILIO_MESSAGES_PER_SECOND``). Callers block in ``acquire`` until they may send.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, bursts up to ``burst`` (default: one second's worth)."""

    def __init__(self, rate: float, burst: float | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, burst if burst is not None else rate)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def _reserve(self) -> float:
        """Take a token (possibly going negative) and return how long the caller must wait for it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


class PerKeyInterval:
    """At most one event per ``interval`` seconds for each key (e.g. each Telegram chat)."""

    def __init__(self, interval: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, max_keys: int = 100_000) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}
        self._clock = clock
        self._sleep = sleep
        self._max_keys = max_keys
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        with self._lock:
            now = self._clock()
            if len(self._next) > self._max_keys:  # forget chats whose slot is long past
                self._next = {k: v for k, v in self._next.items() if v > now}
            slot = max(now, self._next.get(key, 0.0))
            self._next[key] = slot + self.interval
            wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait


class ChannelLimits:
    """The pacing for every channel: ``acquire(channel, chat_key)`` before each send."""

    def __init__(self, overall: dict[str, float], per_chat_interval: dict[str, float]) -> None:
        self.buckets = {ch: TokenBucket(rate) for ch, rate in overall.items() if rate and rate > 0}
        self.per_chat = {ch: PerKeyInterval(iv) for ch, iv in per_chat_interval.items() if iv and iv > 0}

    def acquire(self, channel: str, chat_key: str) -> None:
        per_chat = self.per_chat.get(channel)
        if per_chat is not None:
            per_chat.acquire(chat_key)
        bucket = self.buckets.get(channel)
        if bucket is not None:
            bucket.acquire()
