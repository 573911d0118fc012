"""Phone normalisation and identity find-or-create."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ticketing.citizens import get_or_create_identity, normalise_phone
from ticketing.models import ChannelIdentity, ChannelKind, Citizen


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("whatsapp:+5218112345678", "+528112345678"),  # legacy WhatsApp mobile prefix
        ("+52 1 81 1234 5678", "+528112345678"),
        ("whatsapp:+528112345678", "+528112345678"),
        ("81-1234-5678", "+528112345678"),
        ("5218112345678", "+528112345678"),
        ("+14155550100", "+14155550100"),
        ("hola", None),
        ("", None),
    ],
)
def test_normalise_phone(raw: str, expected: str | None) -> None:
    assert normalise_phone(raw) == expected


def test_same_phone_on_whatsapp_and_sms_is_one_citizen(session_factory) -> None:
    with session_factory() as s:
        wa = get_or_create_identity(s, "whatsapp", "whatsapp:+5218112345678")
        sms = get_or_create_identity(s, ChannelKind.SMS, "+528112345678")
        again = get_or_create_identity(s, "whatsapp", "+528112345678")
        s.commit()
        assert wa.id == again.id
        assert wa.external_id == "+528112345678"
        assert wa.citizen_id == sms.citizen_id
        assert s.scalar(select(func.count()).select_from(Citizen)) == 1
        assert s.scalar(select(func.count()).select_from(ChannelIdentity)) == 2


def test_telegram_identity_has_no_phone(session_factory) -> None:
    with session_factory() as s:
        tg = get_or_create_identity(s, "telegram", "123456789", display_name="Ana")
        s.commit()
        assert tg.external_id == "123456789"
        assert s.get(Citizen, tg.citizen_id).phone_e164 is None
