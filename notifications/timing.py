"""Time rules of proactive messaging: quiet hours, retry backoff with jitter, and dates as a citizen reads them
(the weekday and month names are ``dialogue.formatting``'s, the one source of them).

Pure functions (no database, no clock of their own) so every rule is testable with any instant.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dialogue.formatting import MONTHS, WEEKDAYS

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 15 * 60.0


def parse_hhmm(value: str) -> time:
    """``"21:00"`` → ``time(21, 0)``; raises ``ValueError`` with the bad value otherwise."""
    try:
        hours, minutes = value.strip().split(":")
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"not a HH:MM time: {value!r}") from exc


def quiet_until(now: datetime, start: str, end: str, timezone: str) -> datetime | None:
    """When ``now`` falls in quiet hours, the UTC instant they end; else None.

    ``start``/``end`` are local wall-clock ``HH:MM`` in ``timezone``; a window may cross midnight
    (21:00–09:00). Equal start and end means no quiet hours.
    """
    qs, qe = parse_hhmm(start), parse_hhmm(end)
    if qs == qe:
        return None
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    t = local.time()
    crosses_midnight = qs > qe
    inside = (t >= qs or t < qe) if crosses_midnight else (qs <= t < qe)
    if not inside:
        return None
    end_day = local.date()
    if crosses_midnight and t >= qs:
        end_day += timedelta(days=1)
    return datetime.combine(end_day, qe, tzinfo=tz).astimezone(UTC)


def backoff_seconds(attempts: int, *, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """Delay before the next try after ``attempts`` failed tries.

    The provider's ``Retry-After`` wins (plus up to 10 % jitter so workers don't stampede); otherwise
    exponential from 2 s, capped at 15 min, with "equal jitter" (half fixed, half random).
    """
    r = rng or random
    if retry_after is not None and retry_after >= 0:
        return retry_after + r.uniform(0, max(0.1, retry_after * 0.1))
    exp = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** max(0, attempts - 1)))
    return exp / 2 + r.uniform(0, exp / 2)


def spanish_date(value: datetime, timezone: str, *, with_time: bool = False) -> str:
    """``martes 12 de marzo`` (and ``a las 10:30`` with ``with_time``) in the municipality's time zone."""
    local = value.astimezone(ZoneInfo(timezone))
    text = f"{WEEKDAYS[local.weekday()]} {local.day} de {MONTHS[local.month - 1]}"
    if with_time:
        text += f" a las {local:%H:%M}"
    return text
