"""The retention job (``REPORTA_RETENTION_MONTHS``): closed tickets' personal data removed after N months, older
messages and sent outbox rows deleted, dormant citizens forgotten; open work untouched. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from tests.notifications.conftest import Env, add_identity, new_ticket, queue
from ticketing.models import (
    Attachment,
    ChannelIdentity,
    Citizen,
    Direction,
    InboundState,
    Message,
    OutboxMessage,
    OutboxStatus,
    Ticket,
    TicketEvent,
    utcnow,
)
from ticketing.privacy import REDACTED

MONTH = timedelta(days=30.44)


def _message(session, identity: ChannelIdentity, text: str, n: int, photo: Path | None = None) -> Message:
    msg = Message(direction=Direction.INBOUND, channel=identity.channel, identity_id=identity.id,
                  provider_message_id=f"ret-{n}", kind="text", text=text,
                  payload={"external_id": identity.external_id, "text": text}, state=InboundState.PROCESSED)
    session.add(msg)
    session.flush()
    if photo is not None:
        photo.parent.mkdir(parents=True, exist_ok=True)
        photo.write_bytes(b"\xff\xd8" + text.encode() + b"\xff\xd9")
        session.add(Attachment(message_id=msg.id, kind="photo", sha256=f"{n:064d}", content_type="image/jpeg",
                               size_bytes=10, storage_path=str(photo)))
    return msg


def _setup(env: Env, tmp_path: Path) -> dict:
    with env.session_factory() as s, s.begin():
        done_id = add_identity(s, "whatsapp", "+528111110001")  # only closed tickets, quiet since
        busy_id = add_identity(s, "telegram", "2002")  # has an open ticket
        closed = new_ticket(env, s, done_id)
        svc = env.service(s)
        svc.change_status(closed, "resolved", actor="staff:ana")
        svc.close(closed, actor="system", confirmation="confirmed")
        svc.set_satisfaction(closed, 5, actor=f"citizen:{done_id.citizen_id}")
        open_ = new_ticket(env, s, busy_id)
        stray = tmp_path / "media" / "ab" / "stray.jpg"
        kept = tmp_path / "media" / "cd" / "kept.jpg"
        _message(s, done_id, "Soy Marisol Treviño, vivo en Hidalgo 12", 1, photo=stray)
        m2 = _message(s, busy_id, "Aquí la foto del bache", 2, photo=kept)
        s.flush()
        s.scalars(select(Attachment).where(Attachment.message_id == m2.id)).one().ticket_id = open_.id
        queue(s, done_id, "Tu reporte quedó atendido", ticket_id=closed.id)
        s.execute(OutboxMessage.__table__.update().values(status=OutboxStatus.SENT))
        return {"closed": closed.folio, "open": open_.folio, "done_citizen": done_id.citizen_id,
                "busy_citizen": busy_id.citizen_id, "stray": stray, "kept": kept}


def test_retention_anonymises_closed_tickets_after_n_months_and_forgets_dormant_citizens(
        env: Env, tmp_path: Path) -> None:
    env.settings = env.settings.model_copy(update={"retention_months": 12})
    ids = _setup(env, tmp_path)
    assert env.jobs(now=lambda: utcnow() + 11 * MONTH).apply_retention() == 0  # not yet
    assert ids["stray"].exists()

    done = env.jobs(now=lambda: utcnow() + 13 * MONTH).apply_retention()
    assert done >= 4  # 1 ticket, 2 messages, 1 outbox row, 1 citizen
    with env.session_factory() as s:
        tickets = {t.folio: t for t in s.scalars(select(Ticket))}
        closed, open_ = tickets[ids["closed"]], tickets[ids["open"]]
        assert closed.anonymised_at is not None and closed.reporter_id is None and closed.description == REDACTED
        assert closed.status == "closed" and closed.confirmation == "confirmed" and closed.satisfaction == 5
        assert closed.address == "Av. Juárez 100, Centro"  # the place of the problem stays (maps, indicators)
        assert open_.anonymised_at is None and open_.reporter_id == ids["busy_citizen"]
        assert open_.description != REDACTED
        kinds = [e.kind for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == closed.id))]
        assert kinds[-1] == "anonymised"
        assert not any(e.actor.startswith("citizen:") for e in s.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == closed.id)))
        assert s.get(Citizen, ids["done_citizen"]) is None  # nothing open, quiet for a year: forgotten
        assert s.get(Citizen, ids["busy_citizen"]) is not None  # an open ticket: kept
        assert s.scalar(select(func.count()).select_from(Message)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        [photo] = s.scalars(select(Attachment)).all()  # the open ticket's photo stays with it
        assert photo.ticket_id == open_.id and photo.message_id is None
    assert not ids["stray"].exists() and ids["kept"].exists()
    assert env.jobs(now=lambda: utcnow() + 13 * MONTH).apply_retention() == 0  # idempotent


def test_retention_zero_keeps_everything(env: Env, tmp_path: Path) -> None:
    env.settings = env.settings.model_copy(update={"retention_months": 0})
    ids = _setup(env, tmp_path)
    assert env.jobs(now=lambda: utcnow() + 120 * MONTH).apply_retention() == 0
    with env.session_factory() as s:
        assert s.get(Citizen, ids["done_citizen"]) is not None
        assert s.scalar(select(func.count()).select_from(Message)) == 2
    assert ids["stray"].exists()


def test_run_all_includes_retention(env: Env, tmp_path: Path) -> None:
    assert "apply_retention" in env.jobs().run_all()
