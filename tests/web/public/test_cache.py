"""The figure cache: fresh values served as they are, stale ones served while one background thread recomputes
them, old ones recomputed before answering; a failed recomputation keeps the previous figures."""

from __future__ import annotations

from web.public.cache import FigureCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_fresh_stale_and_old_entries() -> None:
    clock = Clock()
    cache = FigureCache(fresh_for=60, keep_for=600, clock=clock)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get("k", compute) == 1
    clock.now += 59
    assert cache.get("k", compute) == 1 and len(calls) == 1  # fresh: not recomputed
    clock.now += 2
    assert cache.get("k", compute) == 1  # stale: the previous figures now ...
    cache.drain()
    assert len(calls) == 2 and cache.get("k", compute) == 2  # ... and the recomputed ones next
    clock.now += 601
    assert cache.get("k", compute) == 3  # too old: recomputed before answering
    assert cache.get("other", compute) == 4  # keys are separate


def test_a_failed_recomputation_keeps_the_previous_figures() -> None:
    clock = Clock()
    cache = FigureCache(fresh_for=10, keep_for=100, clock=clock)
    assert cache.get("k", lambda: "old") == "old"
    clock.now += 11

    def broken() -> str:
        raise RuntimeError("database briefly down")

    assert cache.get("k", broken) == "old"
    cache.drain()
    assert cache.get("k", lambda: "new") == "old"  # still stale: a new recomputation was asked for
    cache.drain()
    assert cache.get("k", lambda: "newer") == "new"


def test_off_and_bounded() -> None:
    off = FigureCache(fresh_for=0)
    values = iter(range(10))
    assert [off.get("k", lambda: next(values)) for _ in range(3)] == [0, 1, 2]
    small = FigureCache(max_entries=2)
    for key in "abc":
        small.get(key, lambda k=key: k)
    assert small.get("a", lambda: "again") == "again"  # the oldest entry was dropped
