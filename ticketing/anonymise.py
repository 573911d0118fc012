"""Anonymisation rules for what staff write and where tickets are: ``scrub`` removes phone numbers (the
``phonenumbers`` matcher, Mexican and international), e-mail addresses, CURP, RFC, signed links and long digit runs
(chat ids, account numbers) from free text; ``public_address`` drops house numbers and postcodes from an address.

Pure text functions, below every room that publishes: ``web.publication`` (the one whitelist of what is public)
applies them, and a ticket keeps its public address computed with them (``cached_address``, whenever its address
is written; ``ADDRESS_RULES`` changes with the rules, so an address kept under other rules is never used).
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Any

import phonenumbers

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
