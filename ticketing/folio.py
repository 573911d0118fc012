"""Folios: the ticket numbers citizens read aloud, dictate over the phone and type on a keypad.

Format: eight digits printed ``NNNN-NNNN``. The first seven are random (the first never 0, so
spreadsheets don't eat it), not sequential, so a folio does not reveal how many reports the
municipality receives. The eighth is a Damm check digit, which catches every single-digit typo
and every swap of two adjacent digits. Uniqueness is the database's job (a unique constraint on
``tickets.folio``; ``TicketService.create`` retries inside a SAVEPOINT on a collision).
"""

from __future__ import annotations

import re
import secrets

# The Damm quasigroup of order 10 (weakly totally anti-symmetric), as published by H. M. Damm (2004).
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

FOLIO_DIGITS = 8
_SEPARATORS = re.compile(r"[\s\-–—.·/_]+")
_PREFIX = re.compile(r"^(?:folio|no\.?|n[uú]m(?:ero)?\.?)?\s*[:#]?\s*", re.IGNORECASE)


def damm_check_digit(digits: str) -> int:
    """The Damm check digit of a string of decimal digits."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][int(ch)]
    return interim


def _format(digits: str) -> str:
    return f"{digits[:4]}-{digits[4:]}"


def new_folio() -> str:
    """A fresh random folio ``NNNN-NNNN`` (not checked for uniqueness: the database does that)."""
    body = str(secrets.randbelow(9) + 1) + "".join(str(secrets.randbelow(10)) for _ in range(FOLIO_DIGITS - 2))
    return _format(body + str(damm_check_digit(body)))


def normalise_folio(text: str) -> str | None:
    """The canonical ``NNNN-NNNN`` form of a typed folio, or None when malformed or the check digit is wrong.

    Accepts ``12345678``, ``1234-5678``, ``1234 5678``, ``1234.5678``, with surrounding spaces and an
    optional ``folio``/``#`` prefix. Text around the folio is not searched for: pass just the folio.
    """
    if not isinstance(text, str):
        return None
    cleaned = _PREFIX.sub("", text.strip(), count=1)
    digits = _SEPARATORS.sub("", cleaned)
    if len(digits) != FOLIO_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    if damm_check_digit(digits) != 0:  # a valid number including its check digit reduces to 0
        return None
    return _format(digits)


def is_valid_folio(s: str) -> bool:
    """True when ``s`` is a well-formed folio (any accepted typing) with a correct check digit."""
    return normalise_folio(s) is not None
