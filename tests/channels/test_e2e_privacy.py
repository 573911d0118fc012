"""End to end, on Telegram, WhatsApp and SMS: a citizen writes (text, photo), asks "MIS DATOS" and "borra mis
datos" through the real webhooks, staff approve with ``reporta citizens forget``; afterwards no table holds the
citizen's phone, chat id, name, message texts or photos, the photo file is gone, their tickets remain anonymised
and another citizen's data are untouched. SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import itertools
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import func, inspect, select, text
from typer.testing import CliRunner

from reporta.runtime import Runtime
from reporta.settings import get_settings
from tests.channels.conftest import JPEG, TW_SID, AppServer, fixture, wait_until
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from ticketing import citizens_cli
from ticketing.citizens import get_identity
from ticketing.models import (
    Attachment,
    Citizen,
    InboundState,
    Message,
    OutboxMessage,
    OutboxStatus,
    PrivacyRequest,
    Ticket,
)
from ticketing.privacy import REDACTED

SECRET = "Mi vecino Rogelio Quintanilla tiró cascajo en la banqueta de su casa"
OTHER_SECRET = "Hay basura tirada junto al kiosco de la plaza Zaragoza"
_ids = itertools.count(1)

cli = typer.Typer()
citizens_cli.register(cli)


class Citizen_:
    """One citizen on one channel, posting real provider payloads to the app."""

    def __init__(self, app: AppServer, channel: str, who: int, tg: FakeTelegram, tw: FakeTwilio) -> None:
        self.app, self.channel, self.tg, self.tw = app, channel, tg, tw
        if channel == "telegram":
            self.chat_id = 987654321 if who == 0 else 555000111
            self.name = ("Lupita", "Garza") if who == 0 else ("Rosa", "Elizondo")
            self.external_id = str(self.chat_id)
            self.secrets = [self.external_id, *self.name]
        else:
            digits = "8112345679" if who == 0 else "8119876543"
            self.external_id = f"+52{digits}"
            self.name = ("Juan Pérez",) if who == 0 else ("Marta Salinas",)
            self.secrets = [digits, *(self.name if channel == "whatsapp" else ())]

    def send(self, body: str | None = None, *, photo: bool = False) -> None:
        n = next(_ids)
        if self.channel == "telegram":
            data = copy.deepcopy(fixture("telegram", "photo" if photo else "text"))
            data["update_id"] = 815100000 + n
            msg = data["message"]
            msg["date"] = int(time.time())
            msg["message_id"] = 5000 + n
            person = {"id": self.chat_id, "is_bot": False, "first_name": self.name[0], "last_name": self.name[1]}
            msg["from"] = person
            msg["chat"] = {**{k: v for k, v in person.items() if k != "is_bot"}, "type": "private"}
            if photo:
                large = msg["photo"][-1]
                large["file_id"] = f"photo-{n}"
                self.tg.add_file(JPEG, file_path=f"photos/file_{n}.jpg", file_id=large["file_id"])
                msg["caption"] = body or ""
            else:
                msg["text"] = body
            assert self.app.telegram(data).status_code == 200
            return
        name = "whatsapp_image" if photo else ("whatsapp_text" if self.channel == "whatsapp" else "sms_text")
        form = fixture("twilio", name)
        sid = f"{'MM' if photo else 'SM'}{n:032x}"
        form.update(AccountSid=TW_SID, MessageSid=sid, SmsMessageSid=sid, SmsSid=sid, Body=body or "")
        if self.channel == "whatsapp":
            form.update(From=f"whatsapp:{self.external_id}", WaId=self.external_id[1:], ProfileName=self.name[0])
        else:
            form["From"] = self.external_id
        if photo:
            form["MediaUrl0"] = self.tw.add_media(JPEG, "image/jpeg")
        assert self.app.twilio(form).status_code == 200

    def replies(self) -> list[str]:
        if self.channel == "telegram":
            return self.tg.sent_texts(self.chat_id)
        to = f"whatsapp:{self.external_id}" if self.channel == "whatsapp" else self.external_id
        return [r.get("Body", "") for r in self.tw.sent(to)]


def _processed(rt: Runtime) -> None:
    """The inbox processed and the replies sent (status updates may wait out quiet hours: not waited for)."""
    def done() -> bool:
        with rt.session_factory() as s:
            return not s.scalar(select(func.count()).select_from(Message).where(
                Message.state == InboundState.RECEIVED)) and not s.scalar(
                select(func.count()).select_from(OutboxMessage).where(
                    OutboxMessage.urgent.is_(True),
                    OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])))
    wait_until(done, 10)


def dump(rt: Runtime) -> str:
    """Every row of every table (including tables the models may not know), as text."""
    out = []
    with rt.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                out.append(f"{table}: {tuple(row)!r}")
    return "\n".join(out)


@pytest.mark.parametrize("channel", ["telegram", "whatsapp", "sms"])
def test_forget_removes_every_personal_datum_and_keeps_the_tickets(
        channel: str, app: AppServer, runtime: Runtime, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio,
        monkeypatch: pytest.MonkeyPatch) -> None:
    me = Citizen_(app, channel, 0, fake_telegram, fake_twilio)
    other = Citizen_(app, channel, 1, fake_telegram, fake_twilio)
    me.send(SECRET)
    other.send(OTHER_SECRET)
    if channel != "sms":
        me.send("Así quedó la banqueta", photo=True)
    _processed(runtime)

    with runtime.session_factory() as s, s.begin():  # their reports (the report flow's wording is not under test)
        service = runtime.ticket_service(s)
        mine = get_identity(s, channel, me.external_id)
        photos = [a.id for a in s.scalars(select(Attachment))]
        t1 = service.create(category="illegal_dumping", description=SECRET, channel=channel, actor="citizen:x",
                            lat=25.6866, lon=-100.3161, landmark="frente a la casa de Rogelio",
                            reporter_identity=mine, attachment_ids=photos)
        t2 = service.create(category="pothole", description="bache", channel=channel, actor="citizen:x",
                            address="Av. Constitución 100", reporter_identity=mine)
        service.change_status(t2, "resolved", actor="staff:ana", public_note="Ya se tapó")
        t3 = service.create(category="garbage_collection", description=OTHER_SECRET, channel=channel,
                            actor="citizen:y", lat=25.68, lon=-100.31,
                            reporter_identity=get_identity(s, channel, other.external_id))
        folios = {t1.folio, t2.folio}
        files = [a.storage_path for a in s.scalars(select(Attachment))]
    assert (len(files) == 1) == (channel != "sms") and all(Path(f).is_file() for f in files)
    _processed(runtime)

    me.send("MIS DATOS")
    wait_until(lambda: any(t1.folio in r and t2.folio in r for r in me.replies()), 10)
    assert not any(t3.folio in r for r in me.replies())
    me.send("borra mis datos")
    wait_until(lambda: any("solicitud" in r for r in me.replies()), 10)
    _processed(runtime)
    before = dump(runtime)
    assert all(secret in before for secret in me.secrets), "the test's secrets were stored to begin with"
    assert "Quintanilla" in before

    monkeypatch.setenv("REPORTA_DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("REPORTA_VAR_DIR", str(runtime.settings.var_dir))
    get_settings.cache_clear()
    try:
        listed = CliRunner().invoke(cli, ["citizens", "requests"])
        assert listed.exit_code == 0, listed.output
        with runtime.session_factory() as s:
            [request] = s.scalars(select(PrivacyRequest).where(PrivacyRequest.kind == "erasure")).all()
        assert f"R{request.id}" in listed.output and "tickets: 2 (1 open)" in listed.output
        assert me.external_id not in listed.output and me.name[0] not in listed.output
        refused = CliRunner().invoke(cli, ["citizens", "forget", f"R{request.id}", "--staff", "ana"], input="n\n")
        assert refused.exit_code == 1 and dump(runtime) == before  # not confirmed: nothing changed
        result = CliRunner().invoke(cli, ["citizens", "forget", f"R{request.id}", "--staff", "ana", "--yes"])
        assert result.exit_code == 0, result.output
        again = CliRunner().invoke(cli, ["citizens", "forget", f"R{request.id}", "--staff", "ana", "--yes"])
        assert again.exit_code == 1 and "not a pending" in again.output
    finally:
        get_settings.cache_clear()

    after = dump(runtime)
    for secret in [*me.secrets, "Rogelio", "Quintanilla", "cascajo", "banqueta", "MIS DATOS", "borra mis datos"]:
        assert secret not in after, f"{secret!r} is still stored:\n" + "\n".join(
            line for line in after.splitlines() if secret in line)
    assert not any(Path(f).exists() for f in files)  # the photo file is gone
    for secret in [*other.secrets, OTHER_SECRET]:  # the other citizen is untouched
        assert secret in after
    with runtime.session_factory() as s:
        tickets = {t.folio: t for t in s.scalars(select(Ticket))}
        assert set(tickets) == folios | {t3.folio}  # the tickets remain: counts and indicators still work
        for folio in folios:
            t = tickets[folio]
            assert t.reporter_id is None and t.reporter_identity_id is None and t.anonymised_at is not None
            assert t.description == REDACTED
        assert tickets[t2.folio].status == "resolved" and tickets[t2.folio].address == "Av. Constitución 100"
        assert tickets[t1.folio].lat == 25.6866 and tickets[t1.folio].category_code == "illegal_dumping"
        assert tickets[t3.folio].reporter_id is not None and tickets[t3.folio].description == OTHER_SECRET
        assert s.scalar(select(func.count()).select_from(Citizen)) == 1
        done = s.get(PrivacyRequest, request.id)
        assert done.status == "done" and done.decided_by == "staff:ana" and done.citizen_id is None
        assert done.result["tickets_anonymised"] == 2 and done.result["messages"] >= 3
    _answers_a_new_message_as_a_new_citizen(me, runtime)


def _answers_a_new_message_as_a_new_citizen(me: Any, runtime: Runtime) -> None:
    n = len(me.replies())
    me.send("hola")
    wait_until(lambda: len(me.replies()) > n, 10)
    with runtime.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Citizen)) == 2


def test_forget_while_the_citizen_keeps_writing(app: AppServer, runtime: Runtime, fake_telegram: FakeTelegram,
                                                fake_twilio: FakeTwilio) -> None:
    """Messages keep arriving while staff forget the citizen: every webhook answered 200, no deadlock, nothing
    stuck; what arrived before the forget is gone with it, what arrived after belongs to a new citizen."""
    import threading

    from ticketing.privacy import forget_citizen

    me = Citizen_(app, "telegram", 0, fake_telegram, fake_twilio)
    me.send(SECRET)
    _processed(runtime)
    with runtime.session_factory() as s:
        citizen_id = get_identity(s, "telegram", me.external_id).citizen_id
    codes: list[int] = []
    stop = threading.Event()

    def keep_writing() -> None:
        n = 0
        while not stop.is_set() and n < 40:
            n += 1
            data = copy.deepcopy(fixture("telegram", "text"))
            data["update_id"] = 815200000 + n
            data["message"].update(message_id=9000 + n, date=int(time.time()), text=f"mensaje {n}")
            codes.append(app.telegram(data).status_code)
            time.sleep(0.02)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    time.sleep(0.3)
    with runtime.session_factory() as s, s.begin():
        forgotten_at = s.get(Citizen, citizen_id).created_at + timedelta(microseconds=1)
        forget_citizen(s, citizen_id, actor="staff:ana")
    writer.join(timeout=30)
    stop.set()
    _processed(runtime)
    assert codes and set(codes) == {200}, codes
    with runtime.session_factory() as s:
        # (SQLite may give a new citizen the freed id: what matters is that it is a new row)
        assert all(c.created_at >= forgotten_at for c in s.scalars(select(Citizen)))
        assert not s.scalar(select(func.count()).select_from(Message).where(Message.state != InboundState.PROCESSED))
        assert s.scalar(select(func.count()).select_from(Citizen)) <= 1  # the new one, if it wrote after
    assert "Quintanilla" not in dump(runtime)
