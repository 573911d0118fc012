"""The one whitelist of what Reporta publishes, and the scrubbing that goes with it.

Every public page, export and API (public site, folio lookup, map, open data, Open311) builds its rows with
``public_ticket`` and nothing else, so what is public is decided here once:

- fields: folio, service (category code and name), responsible department, status, reason and its plain
  explanation, staff's *public* notes (scrubbed), the channel it came in by, dates (requested, updated, closed,
  committed due date), the address without house numbers, and coordinates snapped to a grid;
- never: citizens (names, phone numbers, chat ids), the citizen's own words (description), photos, internal
  notes, staff names.

``scrub`` removes phone numbers (the ``phonenumbers`` matcher, Mexican and international), e-mail addresses,
CURP, RFC and long digit runs (chat ids, account numbers) from free text written by staff.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import phonenumbers

#: Decimal places kept of a published coordinate: 3 places is a grid of about 110 m (a setting overrides it).
DEFAULT_COORDINATE_DECIMALS = 3

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_CURP = re.compile(r"\b[A-Z][AEIOUX][A-Z]{2}\d{6}[HMX][A-Z]{5}[A-Z\d]\d\b", re.IGNORECASE)
_RFC = re.compile(r"\b[A-ZÑ&]{3,4}\d{6}[A-Z\d]{3}\b", re.IGNORECASE)
_LONG_DIGITS = re.compile(r"(?<![\d.,])\+?\d[\d\s().-]{6,}\d(?![\d.,])")
_URL_SECRET = re.compile(r"https?://\S+[?&](?:sig|token|exp)=\S+", re.IGNORECASE)

#: A house number in a written address: "#123", "No. 45", "núm 7B", "100-A", "Int. 3", or a bare number that
#: is not part of a street name ("5 de Mayo", "16 de Septiembre") and not a "Km" marker.
_HOUSE_NUMBER = re.compile(
    r"(?:\s*,)?\s*(?:(?:#|n[uú]m(?:ero)?\.?|no\.|n[oº°]\.?\s|int(?:erior)?\.?|ext(?:erior)?\.?|lote|mz\.?|"
    r"manzana)\s*\d+\s*[-]?\s*[a-z]?\b|(?<![\w.])(?<!km )\d{1,5}\s*[-]?\s*[a-z]?\b(?!\s*(?:de\s|km|\.\d)))",
    re.IGNORECASE,
)
_POSTCODE = re.compile(r"\b(?:c\.?\s?p\.?|código postal)\s*\d{5}\b", re.IGNORECASE)


@functools.lru_cache(maxsize=65536)  # pure; exports of a million rows repeat the same explanations and notes
def scrub(text: str | None, region: str = "MX") -> str:
    """``text`` with personal data replaced by a placeholder; safe to publish if it was written by staff."""
    if not text:
        return ""
    out = _URL_SECRET.sub("[enlace]", text)
    out = _EMAIL.sub("[correo]", out)
    out = _CURP.sub("[CURP]", out)
    out = _RFC.sub("[RFC]", out)
    spans = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(out, region,
                                                                        leniency=phonenumbers.Leniency.POSSIBLE)]
    for start, end in reversed(spans):
        out = out[:start] + "[teléfono]" + out[end:]
    return _LONG_DIGITS.sub("[número]", out)


@functools.lru_cache(maxsize=65536)
def public_address(address: str | None) -> str:
    """A written address without house numbers and postcodes ("Hidalgo 100, col. Centro" -> "Hidalgo, col.
    Centro"); scrubbed of anything personal."""
    if not address:
        return ""
    # scrub unmemoised: addresses hardly repeat, and would push the notes and explanations out of its memo
    out = _POSTCODE.sub("", scrub.__wrapped__(address))
    out = _HOUSE_NUMBER.sub(" ", out)
    out = re.sub(r"\s+,", ",", out)
    out = re.sub(r",\s*,+", ",", out)
    return re.sub(r"\s{2,}", " ", out).strip(" ,;-")


def _code_fingerprint(code: Any) -> list[str]:
    parts = [code.co_code.hex()]
    for const in code.co_consts:
        parts.extend(_code_fingerprint(const) if hasattr(const, "co_code") else [repr(const)])
    return parts


def _rules_fingerprint() -> str:
    """What ``public_address`` depends on: its code and ``scrub``'s, their patterns, the phonenumbers release."""
    parts = [p.pattern for p in (_URL_SECRET, _EMAIL, _CURP, _RFC, _LONG_DIGITS, _HOUSE_NUMBER, _POSTCODE)]
    for function in (scrub.__wrapped__, public_address.__wrapped__):  # type: ignore[attr-defined]
        parts.extend(_code_fingerprint(function.__code__))
    parts.append(phonenumbers.__version__)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


#: Changes whenever the address rules change: a kept public address computed under other rules is not used.
ADDRESS_RULES = _rules_fingerprint()


def address_key(address: str | None) -> str | None:
    """The key of a kept public address: MD5 of ``ADDRESS_RULES:address`` (PostgreSQL's ``md5`` checks it)."""
    if not address:
        return None
    return hashlib.md5(f"{ADDRESS_RULES}:{address}".encode(), usedforsecurity=False).hexdigest()


def cached_address(address: str | None) -> tuple[str | None, str | None]:
    """(public address, key) to keep with a ticket whose address is ``address``; (None, None) without one."""
    if not address:
        return None, None
    return public_address.__wrapped__(address), address_key(address)  # type: ignore[attr-defined]


def snap(value: float | None, decimals: int = DEFAULT_COORDINATE_DECIMALS) -> float | None:
    """A coordinate rounded to ``decimals`` places (3: ~110 m); None for a missing or non-finite value."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, decimals)


@dataclass(frozen=True, slots=True)
class PublicTicket:
    """A ticket as anyone may see it. Adding a field here publishes it everywhere: think twice."""

    folio: str
    service_code: str
    service_name: str
    department_code: str
    department_name: str
    status: str  # the ticket status code (received, assigned, in_progress, resolved, not_resolved, closed)
    is_open: bool
    reason_code: str | None
    reason_explanation: str  # the plain-language explanation of the reason, scrubbed
    public_notes: str  # staff's public notes, scrubbed, newest last
    channel: str
    requested_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    due_at: datetime  # the original committed date (on time is measured against it)
    revised_due_at: datetime | None  # the date committed after a reopen, now in force (None: never revised)
    address: str  # without house numbers
    lat: float | None
    lon: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The fields of ``PublicTicket`` in order: the whitelist itself, for tests and data dictionaries.
PUBLIC_FIELDS: tuple[str, ...] = tuple(PublicTicket.__dataclass_fields__)


def public_ticket(ticket: Any, catalog: Any, *, public_notes: list[str] | None = None,
                  decimals: int = DEFAULT_COORDINATE_DECIMALS, explanation: str | None = None) -> PublicTicket:
    """The public view of ``ticket`` (a ``ticketing.models.Ticket``). ``public_notes`` are the staff's public
    notes from its events (the caller loads them); ``explanation`` overrides the reason's catalog text (already
    rendered with its placeholders). The citizen's description, photos and identity are never read here."""
    try:
        category = catalog.category(ticket.category_code)
        service_name = category.name
    except Exception:
        service_name = ticket.category_code
    department = ticket.department
    reason_text = explanation
    if reason_text is None and ticket.reason_code:
        try:
            reason_text = catalog.reason(ticket.reason_code).explain()
        except Exception:
            reason_text = ""
    closed = ticket.closed_at or ticket.resolved_at
    return PublicTicket(
        folio=ticket.folio,
        service_code=ticket.category_code,
        service_name=service_name,
        department_code=department.code if department is not None else "",
        department_name=department.name if department is not None else "",
        status=str(ticket.status),
        is_open=bool(ticket.is_open),
        reason_code=ticket.reason_code,
        reason_explanation=scrub(reason_text or ""),
        public_notes="\n".join(scrub(n) for n in (public_notes or []) if n),
        channel=str(ticket.channel),
        requested_at=ticket.created_at,
        updated_at=ticket.updated_at,
        closed_at=None if ticket.is_open else closed,
        due_at=ticket.due_at,
        # duck-typed rows (the open-data export's column query) may not carry it: never revised, then
        revised_due_at=getattr(ticket, "revised_due_at", None),
        address=public_address(ticket.address),
        lat=snap(ticket.lat, decimals),
        lon=snap(ticket.lon, decimals),
    )
