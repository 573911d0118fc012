"""Personal data on console pages: phone numbers masked by default (``+52 81 •••• 5678``), chat ids likewise."""

from __future__ import annotations

import phonenumbers


def mask_phone(e164: str | None) -> str:
    """``+528112345678`` -> ``+52 81 •••• 5678``; anything else keeps only its last 4 characters."""
    if not e164:
        return "—"
    try:
        number = phonenumbers.parse(e164 if e164.startswith("+") else "+" + e164, None)
        country = f"+{number.country_code}"
        national = str(number.national_number)
        if national.startswith("1") and number.country_code == 52 and len(national) == 11:
            national = national[1:]  # the old mobile prefix of Mexican numbers
        area = national[:2] if len(national) >= 8 else ""
        return f"{country} {area} •••• {national[-4:]}".replace("  ", " ")
    except phonenumbers.NumberParseException:
        return "•••• " + e164[-4:]


def mask_identifier(value: str | None) -> str:
    """A chat id or another identifier: only its last 3 characters."""
    if not value:
        return "—"
    return "•••" + value[-3:]
