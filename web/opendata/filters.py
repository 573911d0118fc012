"""The query parameters shared by Open311 ``GET requests`` and the open data exports, read into SQL filters.

``service_request_id`` (folios, comma separated: overrides the rest), ``service_code`` (comma separated),
``status`` (``open``, ``closed``), ``start_date`` / ``end_date`` (W3C date-times; a date without an offset is the
municipality's local time). A bad value raises ``FilterError`` whose text says what is wrong, in English like
the rest of the Open311 descriptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement

from ticketing.folio import normalise_folio
from ticketing.models import Ticket

MAX_SPAN = timedelta(days=90)


class FilterError(ValueError):
    """A query parameter we cannot use (answered with 400)."""


@dataclass
class Filters:
    folios: list[str] = field(default_factory=list)
    service_codes: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        if self.folios:
            return [Ticket.folio.in_(self.folios)]
        out: list[ColumnElement[bool]] = []
        if self.service_codes:
            out.append(Ticket.category_code.in_(self.service_codes))
        if self.statuses and len(set(self.statuses)) == 1:
            out.append(Ticket.is_open.is_(self.statuses[0] == "open"))
        if self.start is not None:
            out.append(Ticket.created_at >= self.start)
        if self.end is not None:
            out.append(Ticket.created_at <= self.end)
        return out


def _items(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def parse_datetime(value: str, name: str, tz: ZoneInfo) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "+"))
    except ValueError:
        raise FilterError(f"{name} must be a W3C date-time such as 2026-01-31T00:00:00-06:00") from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def parse_filters(params: Mapping[str, Any], catalog: Any, timezone: str, *, default_span: bool,
                  now: datetime | None = None) -> Filters:
    """``default_span``: Open311's default of the last 90 days and its 90-day limit (the exports have neither)."""
    tz = ZoneInfo(timezone)
    f = Filters()
    for raw in _items(params.get("service_request_id")):
        folio = normalise_folio(raw)
        if folio is None:
            raise FilterError(f"service_request_id {raw!r} is not a folio (8 digits, e.g. 1234-5678)")
        f.folios.append(folio)
    if f.folios:
        return f
    for code in _items(params.get("service_code")):
        if code not in catalog.categories:
            raise FilterError(f"unknown service_code {code!r}; see services.json")
        f.service_codes.append(code)
    for status in _items(params.get("status")):
        if status not in ("open", "closed"):
            raise FilterError(f"status must be open or closed, not {status!r}")
        f.statuses.append(status)
    if params.get("start_date"):
        f.start = parse_datetime(str(params["start_date"]), "start_date", tz)
    if params.get("end_date"):
        f.end = parse_datetime(str(params["end_date"]), "end_date", tz)
    if f.start is not None and f.end is not None and f.start > f.end:
        raise FilterError("start_date is after end_date")
    if default_span:
        if f.start is None and f.end is None:
            f.end = now or datetime.now(tz)
            f.start = f.end - MAX_SPAN
        elif f.start is None:
            assert f.end is not None
            f.start = f.end - MAX_SPAN
        elif f.end is None:
            f.end = f.start + MAX_SPAN
        if f.end - f.start > MAX_SPAN:
            raise FilterError("start_date and end_date may not span more than 90 days")
    return f


def parse_page(params: Mapping[str, Any], *, default_size: int = 50, max_size: int = 1000) -> tuple[int, int]:
    """(page, page_size): ``page`` from 1; ``page_size`` up to ``max_size``."""
    try:
        page = int(params.get("page") or 1)
        size = int(params.get("page_size") or default_size)
    except ValueError:
        raise FilterError("page and page_size must be whole numbers") from None
    if page < 1 or page > 100_000:
        raise FilterError("page must be between 1 and 100000")
    if not 1 <= size <= max_size:
        raise FilterError(f"page_size must be between 1 and {max_size}")
    return page, size
