"""The outbox dispatcher on SQLite and PostgreSQL, with a test-only Sender (the real HTTP path is in
``test_exactly_once.py`` and ``test_faults.py``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from notifications.dispatcher import Dispatcher
from reporta.messages import PermanentSendError, TransientSendError
from tests.notifications.conftest import RecordingSender, add_identity, queue
from ticketing.citizens import get_or_create_identity, record_opt_out
from ticketing.models import ChannelIdentity, Citizen, OutboxMessage, OutboxStatus

MTY = ZoneInfo("America/Monterrey")
NOON = datetime(2025, 3, 11, 12, 0, tzinfo=MTY)  # a Tuesday, outside quiet hours


def _rows(session_factory) -> dict[int, OutboxMessage]:
    with session_factory() as s:
        return {r.id: r for r in s.scalars(select(OutboxMessage)).all()}


def _disp(session_factory, settings, senders, **kw) -> Dispatcher:
    kw.setdefault("rate_limits", False)
    return Dispatcher(session_factory, senders, settings, worker_id=kw.pop("worker_id", "w1"), **kw)


@time_machine.travel(NOON, tick=False)
def test_sends_each_row_once_in_queue_order_per_chat(session_factory, settings) -> None:
    with session_factory() as s:
        a, b = add_identity(s, "telegram", "111"), add_identity(s, "telegram", "222")
        ids = [queue(s, a, "a1"), queue(s, b, "b1"), queue(s, a, "a2"), queue(s, a, "a3")]
        s.commit()
    tg = RecordingSender("telegram")
    d = _disp(session_factory, settings, {"telegram": tg})
    assert d.run_once(100) == 4
    assert d.run_once(100) == 0  # nothing twice
    assert [t for t in tg.texts() if t.startswith("a")] == ["a1", "a2", "a3"]
    assert sorted(tg.texts()) == ["a1", "a2", "a3", "b1"]
    rows = _rows(session_factory)
    for i in ids:
        assert rows[i].status == OutboxStatus.SENT
        assert rows[i].provider_message_id.startswith("telegram-")
        assert rows[i].attempts == 1
        assert rows[i].sent_at == NOON.astimezone(UTC)
    d.close()


def test_rows_for_channels_without_a_sender_are_left_alone(session_factory, settings) -> None:
    with session_factory() as s:
        wa = add_identity(s, "whatsapp", "+528112345678")
        rid = queue(s, wa, "hola")
        s.commit()
    d = _disp(session_factory, settings, {"telegram": RecordingSender()})
    assert d.run_once() == 0
    assert _rows(session_factory)[rid].status == OutboxStatus.PENDING
    d.close()


def test_transient_error_backs_off_then_delivers(session_factory, settings) -> None:
    def flaky(message, n):
        if message.text == "hola" and n <= 2:
            raise TransientSendError("HTTP 502")

    with time_machine.travel(NOON, tick=False) as traveller:
        with session_factory() as s:
            ident = add_identity(s)
            rid = queue(s, ident, "hola")
            later = queue(s, ident, "después")
            s.commit()
        tg = RecordingSender(script=flaky)
        d = _disp(session_factory, settings, {"telegram": tg})
        d.run_once()
        row = _rows(session_factory)[rid]
        assert row.status == OutboxStatus.PENDING and row.attempts == 1 and "502" in row.last_error
        first_delay = (row.next_attempt_at - NOON).total_seconds()
        assert 1.0 <= first_delay <= 2.0  # 2 s exponential base with equal jitter
        held = _rows(session_factory)[later]
        assert held.status == OutboxStatus.PENDING and held.attempts == 0  # held back, not counted
        assert d.run_once() == 0  # not due yet
        traveller.shift(2.1)
        d.run_once()
        row = _rows(session_factory)[rid]
        assert row.attempts == 2
        assert 2.0 <= (row.next_attempt_at - (NOON + timedelta(seconds=2.1))).total_seconds() <= 4.0
        traveller.shift(4.1)
        d.run_once()
        rows = _rows(session_factory)
        assert rows[rid].status == OutboxStatus.SENT and rows[rid].attempts == 3 and rows[rid].last_error is None
        assert rows[later].status == OutboxStatus.SENT
        assert tg.texts() == ["hola", "después"]
        d.close()


def test_retry_after_is_honoured(session_factory, settings) -> None:
    def limited(message, n):
        if n == 1:
            raise TransientSendError("429 Too Many Requests", retry_after=30)

    with time_machine.travel(NOON, tick=False) as traveller:
        with session_factory() as s:
            rid = queue(s, add_identity(s), "hola")
            s.commit()
        tg = RecordingSender(script=limited)
        d = _disp(session_factory, settings, {"telegram": tg})
        d.run_once()
        row = _rows(session_factory)[rid]
        assert 30 <= (row.next_attempt_at - NOON).total_seconds() <= 33
        traveller.shift(20)
        d.run_once()
        assert tg.texts() == []
        traveller.shift(14)
        d.run_once()
        assert tg.texts() == ["hola"]
        d.close()


def test_gives_up_after_max_attempts(session_factory, settings) -> None:
    settings = settings.model_copy(update={"outbox_max_attempts": 3})

    def down(message, n):
        raise TransientSendError("timeout")

    with time_machine.travel(NOON, tick=False) as traveller:
        with session_factory() as s:
            rid = queue(s, add_identity(s), "hola")
            s.commit()
        d = _disp(session_factory, settings, {"telegram": RecordingSender(script=down)})
        for _ in range(5):
            d.run_once()
            traveller.shift(3600)
        row = _rows(session_factory)[rid]
        assert row.status == OutboxStatus.FAILED and row.attempts == 3
        assert "gave up after 3 attempts" in row.last_error
        d.close()


@time_machine.travel(NOON, tick=False)
def test_permanent_error_marks_identity_unreachable_until_it_writes_again(session_factory, settings) -> None:
    def blocked(message, n):
        raise PermanentSendError("Forbidden: bot was blocked by the user", code=403)

    with session_factory() as s:
        ident = add_identity(s)
        first, second = queue(s, ident, "uno"), queue(s, ident, "dos")
        s.commit()
    tg = RecordingSender(script=blocked)
    d = _disp(session_factory, settings, {"telegram": tg})
    d.run_once()
    assert tg.calls == 1  # the second was not even tried
    rows = _rows(session_factory)
    assert rows[first].status == rows[second].status == OutboxStatus.FAILED
    assert "403" in rows[first].last_error
    with session_factory() as s:
        ident = s.get(ChannelIdentity, ident.id)
        assert ident.unreachable_at is not None and "blocked" in ident.unreachable_reason
        later = queue(s, ident, "tres")
        s.commit()
    d.run_once()
    assert tg.calls == 1 and _rows(session_factory)[later].last_error.startswith("unreachable")
    # The citizen writes again: reachable again.
    tg.script = None
    with session_factory() as s:
        get_or_create_identity(s, "telegram", "1001", seen_at=datetime.now(UTC) + timedelta(seconds=1))
        again = queue(s, s.get(ChannelIdentity, ident.id), "cuatro")
        s.commit()
    d.run_once()
    assert _rows(session_factory)[again].status == OutboxStatus.SENT
    d.close()


def test_quiet_hours_hold_non_urgent_messages(session_factory, settings) -> None:
    night = datetime(2025, 3, 11, 22, 30, tzinfo=MTY)
    with time_machine.travel(night, tick=False) as traveller:
        with session_factory() as s:
            ident = add_identity(s)
            update_id = queue(s, ident, "tu reporte avanzó", kind="status_update", urgent=False)
            reply_id = queue(s, ident, "respuesta", urgent=True)
            s.commit()
        tg = RecordingSender()
        d = _disp(session_factory, settings, {"telegram": tg})
        d.run_once()
        rows = _rows(session_factory)
        assert rows[reply_id].status == OutboxStatus.SENT
        assert rows[update_id].status == OutboxStatus.PENDING and rows[update_id].attempts == 0
        assert rows[update_id].next_attempt_at == datetime(2025, 3, 12, 9, 0, tzinfo=MTY).astimezone(UTC)
        traveller.move_to(datetime(2025, 3, 12, 8, 59, tzinfo=MTY))
        d.run_once()
        assert tg.texts() == ["respuesta"]
        traveller.move_to(datetime(2025, 3, 12, 9, 0, 1, tzinfo=MTY))
        d.run_once()
        assert tg.texts() == ["respuesta", "tu reporte avanzó"]
        d.close()


@time_machine.travel(NOON, tick=False)
def test_whatsapp_window_template_and_sms_fallback(session_factory, settings) -> None:
    settings = settings.model_copy(update={"whatsapp_content_templates": {"status_update": "HX1234"}})
    with session_factory() as s:
        inside = add_identity(s, "whatsapp", "+528111111111", inbound_ago_hours=2)
        outside = add_identity(s, "whatsapp", "+528122222222", inbound_ago_hours=30)
        never = add_identity(s, "whatsapp", "+528133333333", inbound_ago_hours=None)
        r_in = queue(s, inside, "dentro", kind="status_update")
        r_tpl = queue(s, outside, "con plantilla", kind="status_update",
                      payload={"template_variables": {"1": "1234-5678", "2": "resuelto"}})
        r_sms = queue(s, never, "sin plantilla, por SMS", kind="survey",
                      payload={"sms_body": "Version SMS"})
        s.commit()
    wa, sms = RecordingSender("whatsapp"), RecordingSender("sms")
    d = _disp(session_factory, settings, {"whatsapp": wa, "sms": sms})
    d.drain()
    by_text = {m.text: m for m in wa.sent}
    assert by_text["dentro"].content_sid is None
    assert by_text["con plantilla"].content_sid == "HX1234"
    assert by_text["con plantilla"].content_variables == {"1": "1234-5678", "2": "resuelto"}
    assert "sin plantilla, por SMS" not in by_text
    assert [(m.external_id, m.text) for m in sms.sent] == [("+528133333333", "Version SMS")]
    rows = _rows(session_factory)
    assert rows[r_in].status == rows[r_tpl].status == OutboxStatus.SENT
    assert rows[r_sms].status == OutboxStatus.FAILED and "sent by SMS instead" in rows[r_sms].last_error
    d.close()


@time_machine.travel(NOON, tick=False)
def test_outside_window_without_template_or_sms_is_recorded(session_factory, settings) -> None:
    with session_factory() as s:
        rid = queue(s, add_identity(s, "whatsapp", "+528144444444", inbound_ago_hours=48), "hola", kind="status_update")
        s.commit()
    wa = RecordingSender("whatsapp")
    d = _disp(session_factory, settings, {"whatsapp": wa})
    d.run_once()
    row = _rows(session_factory)[rid]
    assert wa.sent == [] and row.status == OutboxStatus.FAILED
    assert "no Content template" in row.last_error and "no SMS fallback" in row.last_error
    d.close()


@time_machine.travel(NOON, tick=False)
def test_error_63016_falls_back_to_sms(session_factory, settings) -> None:
    def window(message, n):
        raise PermanentSendError("outside the allowed window", code=63016, unreachable=False)

    with session_factory() as s:
        rid = queue(s, add_identity(s, "whatsapp", "+528155555555"), "Tu reporte quedó atendido", kind="status_update")
        s.commit()
    wa, sms = RecordingSender("whatsapp", script=window), RecordingSender("sms")
    d = _disp(session_factory, settings, {"whatsapp": wa, "sms": sms})
    d.drain()
    assert [m.text for m in sms.sent] == ["Tu reporte quedó atendido"]
    rows = _rows(session_factory)
    assert rows[rid].status == OutboxStatus.FAILED and "63016" in rows[rid].last_error
    with session_factory() as s:
        assert s.get(ChannelIdentity, rows[rid].identity_id).unreachable_at is None
    d.run_once()
    assert len(sms.sent) == 1
    d.close()


@time_machine.travel(NOON, tick=False)
def test_opted_out_citizen_gets_replies_but_nothing_proactive(session_factory, settings) -> None:
    with session_factory() as s:
        ident = add_identity(s)
        record_opt_out(s.get(Citizen, ident.citizen_id))
        proactive = queue(s, ident, "actualización", kind="status_update")
        reply = queue(s, ident, "Listo, ya no te enviaremos avisos.", kind="reply")
        s.commit()
    tg = RecordingSender()
    d = _disp(session_factory, settings, {"telegram": tg})
    d.run_once()
    assert tg.texts() == ["Listo, ya no te enviaremos avisos."]
    rows = _rows(session_factory)
    assert rows[proactive].status == OutboxStatus.FAILED and rows[proactive].last_error.startswith("opted_out")
    assert rows[reply].status == OutboxStatus.SENT
    d.close()


def test_expired_lease_is_reclaimed(session_factory, settings) -> None:
    with time_machine.travel(NOON, tick=False) as traveller:
        with session_factory() as s:
            rid = queue(s, add_identity(s), "hola")
            row = s.get(OutboxMessage, rid)
            row.status, row.claimed_by, row.attempts = OutboxStatus.SENDING, "dead-worker", 1
            row.claimed_until = NOON + timedelta(seconds=60)
            s.commit()
        tg = RecordingSender()
        d = _disp(session_factory, settings, {"telegram": tg})
        assert d.run_once() == 0  # the lease is still live
        traveller.shift(61)
        assert d.run_once() == 1
        row = _rows(session_factory)[rid]
        assert row.status == OutboxStatus.SENT and row.claimed_by == "w1" and row.attempts == 2
        d.close()


@time_machine.travel(NOON, tick=False)
def test_status_callbacks_only_move_forward(session_factory, settings) -> None:
    with session_factory() as s:
        rid = queue(s, add_identity(s, "whatsapp", "+528166666666"), "hola")
        s.commit()
    d = _disp(session_factory, settings, {"whatsapp": RecordingSender("whatsapp")})
    d.run_once()
    pid = _rows(session_factory)[rid].provider_message_id
    assert d.status_callback(pid, "delivered") is True
    assert d.status_callback(pid, "sent") is False  # late, out-of-order receipt
    assert d.status_callback(pid, "undelivered") is False  # already delivered
    assert _rows(session_factory)[rid].status == OutboxStatus.DELIVERED
    assert d.status_callback(pid, "read") is True
    assert d.status_callback(pid, "delivered") is False
    assert _rows(session_factory)[rid].status == OutboxStatus.READ
    assert _rows(session_factory)[rid].delivered_at is not None
    assert d.status_callback("SMunknown", "delivered") is False
    assert d.status_callback(pid, "bogus") is False
    d.close()


@time_machine.travel(NOON, tick=False)
def test_status_callback_63016_queues_sms(session_factory, settings) -> None:
    with session_factory() as s:
        rid = queue(s, add_identity(s, "whatsapp", "+528177777777"), "aviso", kind="status_update")
        s.commit()
    sms = RecordingSender("sms")
    d = _disp(session_factory, settings, {"whatsapp": RecordingSender("whatsapp"), "sms": sms})
    d.run_once()
    pid = _rows(session_factory)[rid].provider_message_id
    assert d.status_callback(pid, "failed", error_code=63016) is True
    assert d.status_callback(pid, "failed", error_code=63016) is False
    d.drain()
    assert [m.text for m in sms.sent] == ["aviso"]
    d.close()


def test_background_loop_sends_within_a_second_of_wake(session_factory, settings) -> None:
    settings = settings.model_copy(update={"dispatch_interval_seconds": 30.0})
    tg = RecordingSender()
    d = _disp(session_factory, settings, {"telegram": tg})
    d.start()
    try:
        time.sleep(0.2)  # the loop is now idle for 30 s unless woken
        with session_factory() as s:
            queue(s, add_identity(s), "¿Me escuchas?")
            s.commit()
        t0 = time.monotonic()
        d.wake()
        while not tg.sent and time.monotonic() - t0 < 5:
            time.sleep(0.01)
        assert tg.texts() == ["¿Me escuchas?"]
        assert time.monotonic() - t0 < 1.0
    finally:
        d.close()


@pytest.mark.parametrize("rate", [20.0])
def test_rate_limits_pace_sends(session_factory, settings, rate) -> None:
    settings = settings.model_copy(update={"telegram_messages_per_second": rate})
    with session_factory() as s:
        for i in range(40):
            queue(s, add_identity(s, "telegram", str(5000 + i)), f"m{i}")
        one_chat = add_identity(s, "telegram", "42")
        for i in range(3):
            queue(s, one_chat, f"chat{i}")
        s.commit()
    tg = RecordingSender()
    d = Dispatcher(session_factory, {"telegram": tg}, settings, worker_id="w1", rate_limits=True)
    t0 = time.monotonic()
    d.drain()
    elapsed = time.monotonic() - t0
    assert len(tg.sent) == 43
    # 43 messages at 20/s with a 20-token burst take >= ~1.1 s; 3 to one chat at 1/s take >= 2 s.
    assert elapsed >= 2.0
    d.close()
