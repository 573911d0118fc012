"""The edge checks every webhook payload passes before anything is stored: decode JSON safely, clean strings
and numbers, and bound every field of an ``InboundMessage`` to what the database holds.

What the providers send is trusted for nothing: a field may have the wrong type (``"text": 123``), be too long
for its column (a 201-character name, an 81-character ``MessageSid``), carry a NUL (PostgreSQL cannot store
one in text or JSON) or a lone UTF-16 surrogate (not encodable as UTF-8), a NaN or an infinity (not valid JSON
for PostgreSQL), an integer of 100 digits, or nest 10,000 levels deep. ``loads`` refuses what is not JSON we can
read; ``clean_tree`` cleans every string and number of a decoded payload; ``bounded`` makes the final
``InboundMessage`` fit its columns, whatever the channel did.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from typing import Any

from bot.channel import BadRequest
from reporta.messages import InboundMessage, Location, Media

MAX_DEPTH = 32  # Telegram Updates nest about 6 deep (a reply to a message inside a callback query)
MAX_INBOUND_TEXT = 4096
MAX_NAME = 200  # citizens.display_name
MAX_EXTERNAL_ID = 64  # channel_identities.external_id
MAX_PROVIDER_ID = 80  # messages.provider_message_id
MAX_SHORT = 255  # file ids, content types, button payloads
MAX_URL = 2048
INT64 = 2**63 - 1

# NUL and the other C0 controls except tab, newline and carriage return; DEL; lone UTF-16 surrogates.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def clean_str(value: Any, limit: int) -> str | None:
    """``value`` as a storable string of at most ``limit`` characters, or None when it is not a string."""
    if not isinstance(value, str):
        return None
    return _BAD_CHARS.sub("", value)[:limit]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(body: bytes) -> Any:
    """Decode a JSON body; ``BadRequest`` for anything else (bad UTF-8, NaN, nesting deeper than ``MAX_DEPTH``)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("body is not UTF-8") from exc
    if _depth_exceeds(text, MAX_DEPTH):  # before decoding: a 10,000-deep body must not reach the recursion limit
        raise BadRequest(f"JSON nested deeper than {MAX_DEPTH}")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise BadRequest(f"not JSON: {type(exc).__name__}") from exc


def _depth_exceeds(text: str, limit: int) -> bool:
    """True when brackets outside strings nest deeper than ``limit`` (a linear scan, no recursion)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def clean_tree(value: Any, depth: int = 0) -> Any:
    """A copy of a decoded JSON value with every string cleaned (``clean_str``, 64 KiB), NaN/infinite floats and
    integers beyond 64 bits replaced by None. ``BadRequest`` past ``MAX_DEPTH``."""
    if depth > MAX_DEPTH:
        raise BadRequest(f"JSON nested deeper than {MAX_DEPTH}")
    if isinstance(value, str):
        return clean_str(value, 65536)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -INT64 <= value <= INT64 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {clean_str(k, 256) or "": clean_tree(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_tree(v, depth + 1) for v in value]
    return None


def as_int(value: Any) -> int | None:
    """An int within 64 bits (not a bool, not a numeric string), else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -INT64 <= value <= INT64 else None


def as_size(value: Any) -> int | None:
    """A file size: a non-negative int, else None (unknown)."""
    n = as_int(value)
    return n if n is not None and n >= 0 else None


def as_coordinate(value: Any, bound: float) -> float | None:
    """A finite number in [-bound, bound] (int, float or numeric string), else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and -bound <= number <= bound else None


def bounded(inbound: InboundMessage) -> InboundMessage:
    """``inbound`` cleaned to fit the store: strings cleaned and cut to their column, ids checked (``BadRequest``
    when the message cannot be identified), media and location fields of the right type or dropped."""
    external_id = clean_str(inbound.external_id, MAX_EXTERNAL_ID + 1)
    provider_id = clean_str(inbound.provider_message_id, MAX_PROVIDER_ID + 1)
    if not external_id or len(external_id) > MAX_EXTERNAL_ID:
        raise BadRequest("sender id missing or too long")
    if not provider_id or len(provider_id) > MAX_PROVIDER_ID:
        raise BadRequest("message id missing or too long")
    location = inbound.location
    if location is not None:
        lat, lon = as_coordinate(location.lat, 90), as_coordinate(location.lon, 180)
        location = None if lat is None or lon is None else Location(lat, lon, clean_str(location.address, 500))
    media = tuple(Media(kind=clean_str(m.kind, 20) or "document", content_type=clean_str(m.content_type, 100),
                        url=clean_str(m.url, MAX_URL), file_id=clean_str(m.file_id, MAX_SHORT),
                        size_bytes=as_size(m.size_bytes)) for m in inbound.media[:10])
    raw_kind = clean_str(inbound.raw_kind, 20) or "unsupported"
    if inbound.location is not None and location is None and raw_kind == "location":
        raw_kind = "unsupported"
    return replace(
        inbound, external_id=external_id, provider_message_id=provider_id,
        text=clean_str(inbound.text, MAX_INBOUND_TEXT) or None,
        display_name=clean_str(inbound.display_name, MAX_NAME) or None,
        phone_e164=clean_str(inbound.phone_e164, 20) or None,
        button_payload=clean_str(inbound.button_payload, MAX_SHORT) or None,
        location=location, media=media, raw_kind=raw_kind,
    )
