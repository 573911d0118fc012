"""Citizens and their channel identities: phone normalisation (E.164) and find-or-create by channel id.

Phone numbers and chat ids are personal data (the municipality is a *sujeto obligado* under the Ley General de
Protección de Datos Personales en Posesión de Sujetos Obligados): they live only in ``citizens`` and
``channel_identities``, are never shown on public pages or exports, and are deleted on request
(``ticketing.privacy``).
"""

from __future__ import annotations

from datetime import datetime

import phonenumbers
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ticketing.models import ChannelIdentity, ChannelKind, Citizen, utcnow

TWILIO_CHANNELS = frozenset({ChannelKind.WHATSAPP, ChannelKind.SMS})


def normalise_phone(raw: str | None, default_region: str = "MX") -> str | None:
    """Return ``+<country><number>`` or None when ``raw`` is not a phone number.

    Accepts Twilio's ``whatsapp:+52...`` addresses, spaces and dashes, national numbers (Mexico by
    default) and Mexico's legacy mobile prefix ``+521`` that WhatsApp still sends (``+5218112345678``
    becomes ``+528112345678``).
    """
    if not raw:
        return None
    text = raw.strip()
    if ":" in text:
        text = text.split(":", 1)[1]
    digits = "".join(ch for ch in text if ch.isdigit() or ch == "+")
    if digits.startswith("+521") and len(digits) == 14:
        digits = "+52" + digits[4:]
    elif digits.startswith("521") and len(digits) == 13:
        digits = "+52" + digits[3:]
    try:
        number = phonenumbers.parse(digits, None if digits.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def external_id_for(channel: ChannelKind | str, raw_id: str) -> str:
    """The stored identity key: E.164 phone for WhatsApp/SMS, the provider's id otherwise."""
    kind = ChannelKind(channel)
    if kind in TWILIO_CHANNELS:
        return normalise_phone(raw_id) or raw_id.split(":", 1)[-1]
    return str(raw_id)


def get_identity(session: Session, channel: ChannelKind | str, external_id: str) -> ChannelIdentity | None:
    kind = ChannelKind(channel)
    return session.scalars(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == kind, ChannelIdentity.external_id == external_id_for(kind, external_id)
        )
    ).one_or_none()


def get_or_create_identity(
    session: Session,
    channel: ChannelKind | str,
    external_id: str,
    *,
    phone: str | None = None,
    display_name: str | None = None,
    seen_at: datetime | None = None,
) -> ChannelIdentity:
    """Find the identity for (channel, id) or create it with a new citizen; safe under concurrent calls.

    A citizen who writes on WhatsApp and by SMS from the same phone is one citizen with two identities.
    ``seen_at`` (an inbound message's time) updates ``last_inbound_at``.
    """
    kind = ChannelKind(channel)
    key = external_id_for(kind, external_id)
    identity = get_identity(session, kind, key)
    if identity is None:
        phone_e164 = normalise_phone(phone) if phone else (key if kind in TWILIO_CHANNELS else None)
        citizen = None
        if phone_e164:
            citizen = session.scalars(
                select(Citizen).where(Citizen.phone_e164 == phone_e164).order_by(Citizen.id).limit(1)
            ).first()
        try:
            with session.begin_nested():
                if citizen is None:
                    citizen = Citizen(phone_e164=phone_e164, display_name=display_name)
                    session.add(citizen)
                    session.flush()
                identity = ChannelIdentity(citizen_id=citizen.id, channel=kind, external_id=key)
                session.add(identity)
                session.flush()
        except IntegrityError:
            identity = get_identity(session, kind, key)
            if identity is None:  # pragma: no cover - the constraint that failed was not ours
                raise
    if seen_at is not None:
        identity.last_inbound_at = seen_at
    return identity


def record_consent(citizen: Citizen, when: datetime | None = None) -> None:
    citizen.consent_at = when or utcnow()
    citizen.opted_out_at = None


def record_opt_out(citizen: Citizen, when: datetime | None = None) -> None:
    citizen.opted_out_at = when or utcnow()
