"""Storing inbound messages: ONE ``INSERT … ON CONFLICT (channel, provider_message_id) DO NOTHING RETURNING id`` for
a group of messages (a redelivery returns no row: ``None``), the channel identities found or created in bulk
(``get_or_create_identity`` for what is left), and ``StoreFailed`` for what could not be stored."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

from sqlalchemy import Insert, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from reporta.messages import InboundMessage
from ticketing.citizens import TWILIO_CHANNELS, external_id_for, get_or_create_identity, normalise_phone
from ticketing.models import ChannelIdentity, ChannelKind, Citizen, Direction, InboundState, Message, utcnow

log = logging.getLogger(__name__)

#: Identity ids remembered per process (channel, external id) -> id; cleared when full.
IDENTITY_CACHE_SIZE = 100_000

IdentityCache = dict[tuple[str, str], int]


def _insert_message_ignoring_redelivery(session: Session) -> Insert:
    dialect = session.get_bind().dialect.name
    table, key = Message.__table__, ["channel", "provider_message_id"]
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=key)
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=key)
    return insert(table)  # pragma: no cover - other databases: a redelivery raises IntegrityError


def _resolve_identities(session: Session, inbounds: Sequence[InboundMessage]) -> dict[tuple[str, str], int]:
    """The identity ids of ``inbounds`` (one per (channel, external id)), found or created in bulk: one SELECT
    of the identities, one of the citizens by phone, one INSERT of the new citizens and one ``INSERT … ON
    CONFLICT DO NOTHING`` of the new identities. Whatever is left (an identity another process created
    meanwhile) is returned missing: the caller falls back to ``get_or_create_identity``."""
    norm: dict[tuple[str, str], tuple[ChannelKind, str]] = {}
    for i in inbounds:
        kind = ChannelKind(i.channel)
        norm[(i.channel, i.external_id)] = (kind, external_id_for(kind, i.external_id))
    by_kind: dict[ChannelKind, set[str]] = {}
    for kind, ext in norm.values():
        by_kind.setdefault(kind, set()).add(ext)
    ids: dict[tuple[ChannelKind, str], int] = {}
    for kind, exts in by_kind.items():
        for iid, ext in session.execute(select(ChannelIdentity.id, ChannelIdentity.external_id).where(
                ChannelIdentity.channel == kind, ChannelIdentity.external_id.in_(sorted(exts)))).all():
            ids[(kind, ext)] = iid
    first = {(i.channel, i.external_id): i for i in inbounds}
    new: dict[tuple[ChannelKind, str], InboundMessage] = {}
    for key, nk in norm.items():
        if nk not in ids:
            new.setdefault(nk, first[key])
    if new:
        phone_of: dict[tuple[ChannelKind, str], str | None] = {}
        for (kind, ext), i in new.items():
            phone_of[(kind, ext)] = (normalise_phone(i.phone_e164) if i.phone_e164
                                     else (ext if kind in TWILIO_CHANNELS else None))
        phones = sorted({p for p in phone_of.values() if p})
        citizen_of_phone: dict[str, int] = {}
        if phones:
            for cid, phone in session.execute(select(Citizen.id, Citizen.phone_e164).where(
                    Citizen.phone_e164.in_(phones)).order_by(Citizen.id.desc())).all():
                citizen_of_phone[phone] = cid  # descending: the lowest id wins, as get_or_create_identity
        to_create: list[tuple[ChannelKind, str]] = []
        seen_phones: set[str] = set()
        for nk, phone in phone_of.items():
            if phone is None or (phone not in citizen_of_phone and phone not in seen_phones):
                to_create.append(nk)
                if phone:
                    seen_phones.add(phone)
        created: dict[tuple[ChannelKind, str], int] = {}
        if to_create:
            rows = [{"phone_e164": phone_of[nk], "display_name": new[nk].display_name, "created_at": utcnow()}
                    for nk in to_create]
            cids = session.execute(insert(Citizen).returning(Citizen.id, sort_by_parameter_order=True),
                                   rows).scalars().all()
            for nk, cid in zip(to_create, cids, strict=True):
                created[nk] = cid
                if phone_of[nk]:
                    citizen_of_phone[phone_of[nk]] = cid
        rows = []
        for nk, phone in phone_of.items():
            cid = created.get(nk) or citizen_of_phone[phone]  # type: ignore[index]
            rows.append({"citizen_id": cid, "channel": nk[0], "external_id": nk[1], "created_at": utcnow()})
        dialect = session.get_bind().dialect.name
        table = ChannelIdentity.__table__
        ins: Any = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))
        stmt = ins.on_conflict_do_nothing(index_elements=["channel", "external_id"]).returning(
            table.c.id, table.c.channel, table.c.external_id)
        got = {(ChannelKind(getattr(ch, "value", ch)), ext): iid for iid, ch, ext in session.execute(stmt, rows).all()}
        ids.update(got)
        used = {r["citizen_id"] for r in rows if (r["channel"], r["external_id"]) in got}
        orphans = [cid for cid in created.values() if cid not in used]
        if orphans:  # another process created those identities meanwhile: drop the citizens made for them
            session.execute(delete(Citizen).where(Citizen.id.in_(orphans)))
    return {key: ids[nk] for key, nk in norm.items() if nk in ids}


_MESSAGE_INSERT: dict[str, Any] = {}


def store_inbound(session: Session, inbounds: Sequence[InboundMessage],
                  identities: IdentityCache | None = None) -> tuple[list[int | None], dict[tuple[str, str], int]]:
    """Insert ``inbounds`` in the caller's transaction, one statement for all of them.

    Returns the new message id of each (None for a redelivery, also one inside ``inbounds``) and the identity ids
    found or created, to be added to the cache only after the transaction commits.
    """
    cache = identities if identities is not None else {}
    found: dict[tuple[str, str], int] = {}
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    misses = {(i.channel, i.external_id): i for i in inbounds if (i.channel, i.external_id) not in cache}
    if len(misses) > 1:  # a cold cache (start-up, new citizens): a few statements for all, not ~6 each
        found.update(_resolve_identities(session, list(misses.values())))
    for inbound in inbounds:
        key = (inbound.channel, inbound.external_id)
        identity_id = cache.get(key) or found.get(key)
        if identity_id is None:
            identity_id = get_or_create_identity(session, inbound.channel, inbound.external_id,
                                                 phone=inbound.phone_e164, display_name=inbound.display_name).id
            found[key] = identity_id
        dedupe = (inbound.channel, inbound.provider_message_id)
        if dedupe in seen:
            continue
        seen.add(dedupe)
        now = utcnow()
        rows.append({"direction": Direction.INBOUND, "channel": inbound.channel, "identity_id": identity_id,
                     "provider_message_id": inbound.provider_message_id, "kind": inbound.raw_kind[:20],
                     "text": inbound.text, "payload": inbound.to_dict(), "state": InboundState.RECEIVED,
                     "created_at": now})
    if not rows:
        return [None] * len(inbounds), found
    dialect = session.get_bind().dialect.name
    stmt = _MESSAGE_INSERT.get(dialect)
    if stmt is None:  # built once: executemany of one cached statement (a multi-row VALUES compiles every time)
        stmt = _insert_message_ignoring_redelivery(session).returning(
            Message.__table__.c.id, Message.__table__.c.channel, Message.__table__.c.provider_message_id)
        _MESSAGE_INSERT[dialect] = stmt
    stored = {(str(getattr(ch, "value", ch)), pid): mid for mid, ch, pid in session.execute(stmt, rows).all()}
    ids: list[int | None] = []
    for inbound in inbounds:
        ids.append(stored.pop((inbound.channel, inbound.provider_message_id), None))
    return ids, found


def accept(session_factory: sessionmaker[Session], inbound: InboundMessage,
           write_lock: threading.Lock | None = None, identities: IdentityCache | None = None) -> int | None:
    """Store ``inbound``; return the new message id, or None when it was already stored (a redelivery)."""
    return accept_many(session_factory, [inbound], write_lock, identities)[0]


def accept_many(session_factory: sessionmaker[Session], inbounds: Sequence[InboundMessage],
                write_lock: threading.Lock | None = None, identities: IdentityCache | None = None,
                signal: Callable[[Session], None] | None = None) -> list[int | None]:
    """Store ``inbounds`` in one transaction (group commit); the new message ids, None for redeliveries.

    ``signal(session)`` runs in that transaction when something new was stored (a PostgreSQL ``NOTIFY`` to the
    processing processes, delivered with the commit)."""
    with write_lock or nullcontext(), session_factory() as session, session.begin():
        ids, found = store_inbound(session, inbounds, identities)
        if signal is not None and any(mid is not None for mid in ids):
            signal(session)
    if identities is not None and found:
        if len(identities) + len(found) > IDENTITY_CACHE_SIZE:
            identities.clear()
        identities.update(found)
    for inbound, mid in zip(inbounds, ids, strict=True):
        if mid is None:
            log.info("redelivered %s message %s ignored (already stored)", inbound.channel,
                     inbound.provider_message_id)
    return ids


class StoreFailed(RuntimeError):
    """The inbox could not store a message (the database is down, or the message cannot be stored): the webhook
    answers 5xx so the provider delivers it again. Logged once, by the inbox writer."""
