"""Delivery receipts that arrive before the dispatcher recorded ``sent``: kept, then applied, never lost.

The race is reproduced exactly: the sender calls ``status_callback`` for the provider id it is about to
return, while the dispatcher has not yet recorded it (the rest of the batch is still being sent).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import select

from notifications.dispatcher import Dispatcher
from notifications.jobs import Jobs
from reporta.messages import OutboundMessage, SendReceipt
from tests.notifications.conftest import RecordingSender, add_identity, queue
from ticketing.models import EarlyReceipt, OutboxMessage, OutboxStatus

MTY = ZoneInfo("America/Monterrey")
NOON = datetime(2025, 3, 11, 12, 0, tzinfo=MTY)  # a Tuesday, outside quiet hours


@dataclass
class EarlyReceiptSender:
    """A Twilio-like test Sender whose provider reports on each message before ``send`` even returns."""

    channel: str = "whatsapp"
    receipts: list[tuple[str, str | None]] = field(default_factory=list)  # (status, error code)
    dispatcher: Dispatcher | None = None
    sent: list[OutboundMessage] = field(default_factory=list)
    early_results: list[bool] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def send(self, message: OutboundMessage) -> SendReceipt:
        pid = f"SM{self.channel}{next(self._ids):04d}"
        assert self.dispatcher is not None
        for status, code in self.receipts:
            self.early_results.append(self.dispatcher.status_callback(pid, status, error_code=code))
        self.sent.append(message)
        return SendReceipt(provider_message_id=pid)


def _disp(session_factory, settings, senders) -> Dispatcher:
    return Dispatcher(session_factory, senders, settings, worker_id="w1", rate_limits=False)


def _row(session_factory, row_id: int) -> OutboxMessage:
    with session_factory() as s:
        return s.get(OutboxMessage, row_id)


def _early(session_factory) -> list[EarlyReceipt]:
    with session_factory() as s:
        return list(s.scalars(select(EarlyReceipt).order_by(EarlyReceipt.id)).all())


def _run_with_early(session_factory, settings, receipts, *, channel="whatsapp", external_id="+528111111111",
                    extra_senders=None) -> tuple[Dispatcher, EarlyReceiptSender, int]:
    with session_factory() as s:
        rid = queue(s, add_identity(s, channel, external_id), "Tu reporte quedó atendido", kind="status_update")
        s.commit()
    sender = EarlyReceiptSender(channel, receipts=list(receipts))
    d = _disp(session_factory, settings, {channel: sender, **(extra_senders or {})})
    sender.dispatcher = d
    d.run_once()
    return d, sender, rid


@time_machine.travel(NOON, tick=False)
def test_delivered_before_record_is_applied_by_record(session_factory, settings) -> None:
    d, sender, rid = _run_with_early(session_factory, settings, [("delivered", None)])
    assert sender.early_results == [False]  # nothing to move yet: kept
    row = _row(session_factory, rid)
    assert row.status == OutboxStatus.DELIVERED
    assert row.delivered_at == NOON.astimezone(UTC) and row.sent_at is not None
    assert row.provider_message_id == "SMwhatsapp0001"
    assert _early(session_factory) == []
    d.close()


@time_machine.travel(NOON, tick=False)
def test_undelivered_before_record_ends_the_row(session_factory, settings) -> None:
    d, _, rid = _run_with_early(session_factory, settings, [("undelivered", "30003")])
    row = _row(session_factory, rid)
    assert row.status == OutboxStatus.UNDELIVERED
    assert "undelivered" in row.last_error and "30003" in row.last_error
    assert _early(session_factory) == []
    d.run_once()  # terminal: not claimed again
    assert _row(session_factory, rid).status == OutboxStatus.UNDELIVERED
    d.close()


@time_machine.travel(NOON, tick=False)
def test_out_of_order_early_receipts_end_delivered(session_factory, settings) -> None:
    d, sender, rid = _run_with_early(session_factory, settings, [("delivered", None), ("sent", None)])
    assert sender.early_results == [False, False]
    assert _row(session_factory, rid).status == OutboxStatus.DELIVERED
    assert _early(session_factory) == []
    d.close()


@time_machine.travel(NOON, tick=False)
def test_early_63016_failure_queues_the_sms_fallback(session_factory, settings) -> None:
    sms = RecordingSender("sms")
    d, _, rid = _run_with_early(session_factory, settings, [("failed", "63016")], extra_senders={"sms": sms})
    row = _row(session_factory, rid)
    assert row.status == OutboxStatus.FAILED and "63016" in row.last_error
    assert "sent by SMS instead" in row.last_error
    with session_factory() as s:
        fallback = s.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key == f"sms-fallback:{rid}")).one()
        assert fallback.status == OutboxStatus.PENDING
    d.drain()
    assert [m.text for m in sms.sent] == ["Tu reporte quedó atendido"]
    d.close()


@time_machine.travel(NOON, tick=False)
def test_receipts_after_record_still_work_and_are_not_stored(session_factory, settings) -> None:
    with session_factory() as s:
        rid = queue(s, add_identity(s, "whatsapp", "+528122222222"), "hola")
        s.commit()
    d = _disp(session_factory, settings, {"whatsapp": RecordingSender("whatsapp")})
    d.run_once()
    pid = _row(session_factory, rid).provider_message_id
    assert d.status_callback(pid, "delivered") is True
    assert d.status_callback(pid, "bogus") is False
    assert _early(session_factory) == []
    d.close()


def _jobs(env, d: Dispatcher) -> Jobs:
    return env.jobs(apply_matched_receipts=d.apply_early_receipts)


def test_job_applies_a_receipt_whose_row_got_its_provider_id_later(env) -> None:
    with time_machine.travel(NOON, tick=False):
        with env.session_factory() as s:
            rid = queue(s, add_identity(s, "whatsapp", "+528133333333"), "hola")
            s.commit()
        d = _disp(env.session_factory, env.settings, {"whatsapp": RecordingSender("whatsapp")})
        # The receipt's insert commits just after _record looked: simulated by a receipt for an id no row has yet.
        assert d.status_callback("SMlate", "delivered") is False
        assert [e.provider_message_id for e in _early(env.session_factory)] == ["SMlate"]
        with env.session_factory() as s:
            row = s.get(OutboxMessage, rid)
            row.status, row.provider_message_id, row.sent_at = OutboxStatus.SENT, "SMlate", NOON
            s.commit()
        jobs = _jobs(env, d)
        assert jobs.apply_early_receipts() == 1
        assert jobs.apply_early_receipts() == 0
        row = _row(env.session_factory, rid)
        assert row.status == OutboxStatus.DELIVERED and row.delivered_at is not None
        assert _early(env.session_factory) == []
        assert jobs.run_all()["apply_early_receipts"] == 0
        d.close()


def test_job_drops_unmatched_receipts_after_a_day(env) -> None:
    with time_machine.travel(NOON, tick=False) as traveller:
        d = _disp(env.session_factory, env.settings, {"whatsapp": RecordingSender("whatsapp")})
        assert d.status_callback("SMold", "delivered") is False
        traveller.shift(timedelta(hours=20))
        assert d.status_callback("SMyoung", "failed", error_code=30008) is False
        jobs = _jobs(env, d)
        traveller.shift(timedelta(hours=3, minutes=59))
        assert jobs.apply_early_receipts() == 0  # 23 h 59 min: both kept
        traveller.shift(timedelta(minutes=2))
        assert jobs.apply_early_receipts() == 1
        kept = _early(env.session_factory)
        assert [(e.provider_message_id, e.status, e.error_code) for e in kept] == [("SMyoung", "failed", "30008")]
        d.close()
