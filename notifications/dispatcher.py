"""The outbox dispatcher: the only code that hands outbox rows to channel senders.

One cycle (``run_once``):

1. **Claim** (one short transaction). Due rows are those ``pending`` with ``next_attempt_at <= now``, or
   ``sending`` whose lease (``claimed_until``) expired because a worker died. On PostgreSQL the rows'
   channel identities are locked with ``FOR NO KEY UPDATE SKIP LOCKED`` (so two workers never take the
   same chat, and inserts referencing the identity are not blocked); identities with a live claim are
   skipped. On SQLite ``BEGIN IMMEDIATE`` serialises claimers. Before claiming, each row passes the
   policy: unreachable identity or opted-out citizen (proactive kinds only) → ``failed`` with the reason;
   non-urgent during quiet hours → back to ``pending`` until they end; WhatsApp outside the 24 h
   window → the Content template configured for the row's kind, else an SMS fallback row, else
   ``failed``. Claimed rows become ``sending`` with ``claimed_by``/``claimed_until`` and ``attempts+1``.
2. **Send** outside any transaction, concurrently (a thread pool), each chat's rows in queue order, paced
   by per-channel token buckets and (Telegram) one message per second per chat. While sends are in flight the
   claim (``lease_seconds``, 30 s by default) is renewed every third of it, so a short lease never expires under
   a slow send, and a dead worker's rows come back within seconds, not minutes.
3. **Record** as each send returns (the cycle's thread writes whatever finished within ``RECORD_WINDOW``, 10 ms,
   in one transaction, so a provider's "accepted" is on disk milliseconds later, not after the whole batch).
   When the database is unreachable the outcomes are kept in memory and recorded as soon as it answers again
   (``_record_until_done``), instead of leaving the rows to be re-sent when their lease expires. Outcomes:
   transient errors → ``pending`` again after exponential backoff with jitter or the provider's Retry-After,
   until ``outbox_max_attempts`` then ``failed``; permanent errors → ``failed`` and the identity marked
   unreachable; Twilio 63016 (WhatsApp outside the window) → SMS fallback when the citizen has a phone and SMS
   is configured.

``status_callback`` applies provider delivery receipts, only ever moving a row forward. A receipt can beat
step 3 (Twilio reports on a message while the rest of the batch is still being sent): it is kept in
``early_receipts`` and applied by ``_record`` in the transaction that stores the provider id, or, if it was
committed just after that, by the ``apply_early_receipts`` job.
The providers take no idempotency key, so delivery is at-least-once: a worker killed between a provider
accepting a message and the recording of it resends that message once its lease expires. That window is one
send plus one small transaction (``benchmarks/outage_bench.py`` measures it).
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select, true, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from notifications.outbox import enqueue, outbound_from_row
from notifications.ratelimit import ChannelLimits
from notifications.timing import backoff_seconds, quiet_until
from reporta.flow.interprocess import WriteLock
from reporta.messages import OutboundMessage, PermanentSendError, Sender, TransientSendError
from reporta.settings import Settings
from ticketing.citizens import get_or_create_identity
from ticketing.db import is_sqlite
from ticketing.models import (
    ChannelIdentity,
    ChannelKind,
    Citizen,
    EarlyReceipt,
    OutboxMessage,
    OutboxStatus,
    utcnow,
)

log = logging.getLogger(__name__)

WHATSAPP_WINDOW = timedelta(hours=24)
#: Outcomes finishing within this many seconds of each other are recorded in one transaction.
RECORD_WINDOW = 0.01
#: Twilio: "Message failed to send because more than 24 hours have passed since the customer last replied".
OUTSIDE_WINDOW_CODES = frozenset({"63016"})
#: Kinds the citizen did not ask for; an opted-out citizen gets none of them.
PROACTIVE_PREFIXES = ("status", "survey", "sla", "reminder", "location_request", "broadcast")

# Delivery receipts: a row only moves forward along this order; failed/undelivered are terminal.
_RANK = {OutboxStatus.PENDING: 0, OutboxStatus.SENDING: 1, OutboxStatus.SENT: 2, OutboxStatus.DELIVERED: 3,
         OutboxStatus.READ: 4}
_TERMINAL = frozenset({OutboxStatus.FAILED, OutboxStatus.UNDELIVERED, OutboxStatus.READ})
_PROVIDER_STATUS = {
    "accepted": OutboxStatus.SENT, "queued": OutboxStatus.SENT, "sending": OutboxStatus.SENT,
    "sent": OutboxStatus.SENT, "delivered": OutboxStatus.DELIVERED, "read": OutboxStatus.READ,
    "failed": OutboxStatus.FAILED, "undelivered": OutboxStatus.UNDELIVERED,
}


def _describe(exc: BaseException) -> str:
    """An error in one line without the statement's parameters (they hold citizens' words and numbers)."""
    orig = getattr(exc, "orig", None)
    first = str(orig if orig is not None else "").strip().splitlines()
    return f"{type(exc).__name__}: {first[0][:120]}" if first else type(exc).__name__


def is_proactive(kind: str) -> bool:
    return kind.startswith(PROACTIVE_PREFIXES)


def default_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(slots=True)
class _Job:
    """One claimed row, with everything needed to send it and record the outcome."""

    row_id: int
    identity_id: int
    citizen_id: int
    channel: str
    chat_key: str
    message: OutboundMessage
    attempts: int  # after this claim
    kind: str
    urgent: bool
    ticket_id: int | None
    phone: str | None
    sms_body: str
    # outcome
    status: str | None = None  # sent | retry | failed | released | fallback
    provider_message_id: str | None = None
    sent_at: datetime | None = None
    error: str | None = None
    retry_after: float | None = None
    unreachable: bool = False


@dataclass(slots=True)
class DispatchStats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    fallbacks: int = 0


class Dispatcher:
    """Claims due outbox rows, sends them through ``senders[channel]`` and records what happened.

    ``senders`` maps a channel value (``telegram``, ``whatsapp``, ``sms``, ``simulator``) to a ``Sender``;
    rows for channels without a sender are left for a worker that has one. ``rate_limits=False`` turns
    pacing off (benchmarks). ``now`` is the clock (tests travel in time with ``time-machine`` instead).
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        senders: Mapping[str, Sender],
        settings: Settings,
        *,
        worker_id: str | None = None,
        now: Callable[[], datetime] = utcnow,
        lease_seconds: float | None = None,
        max_threads: int = 8,
        batch_size: int = 500,
        rate_limits: bool = True,
        rng: Any = None,
    ) -> None:
        self.session_factory = session_factory
        self.senders = dict(senders)
        self.settings = settings
        self.worker_id = worker_id or default_worker_id()
        self.now = now
        self.lease = timedelta(seconds=lease_seconds if lease_seconds is not None else settings.outbox_lease_seconds)
        #: how long outcomes are kept in memory and retried while the database is unreachable
        self.record_patience = max(60.0, self.lease.total_seconds() * 10)
        self.batch_size = batch_size
        self.stats = DispatchStats()
        self._rng = rng
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="outbox-send")
        self._limits: ChannelLimits | None = None
        if rate_limits:
            twilio = settings.twilio_messages_per_second
            self._limits = ChannelLimits(
                overall={"telegram": settings.telegram_messages_per_second, "whatsapp": twilio, "sms": twilio},
                per_chat_interval={"telegram": 1.0},
            )
        self._sqlite = is_sqlite(session_factory.kw["bind"])
        # SQLite: one writer across this machine's processes (the processing processes take the same lock).
        self._write_lock = WriteLock.for_url(str(session_factory.kw["bind"].url)) if self._sqlite else None
        self._rate_limits = rate_limits
        self._wakes: list[threading.Event] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        #: When set, only these identities' rows are claimed (a terminal simulator delivers its own citizen's
        #: messages, leaving another terminal's to that terminal).
        self.only_identities: frozenset[int] | None = None

    # --- the background loop -------------------------------------------------------------------------
    def start(self) -> None:
        """Run cycles in background threads until ``stop``: one loop per channel, so a slow channel's backlog
        (Twilio at 10/s) never holds up another's; idle waits end early on ``wake``."""
        if self._threads:
            return
        self._stop.clear()
        self._wakes = []
        for channel in self._channels():
            wake = threading.Event()
            self._wakes.append(wake)
            t = threading.Thread(target=self._loop, args=(channel, wake), daemon=True,
                                 name=f"dispatcher-{channel.value}-{self.worker_id}")
            self._threads.append(t)
            t.start()

    def wake(self) -> None:
        """Something was just enqueued: start a cycle now instead of after the idle interval."""
        for wake in list(self._wakes):
            wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self.wake()
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    def close(self) -> None:
        self.stop()
        self._pool.shutdown(wait=True)

    def channel_batch(self, channel: ChannelKind) -> int:
        """Rows to claim per cycle: about two seconds of sending at the channel's rate limit."""
        if not self._rate_limits or self._limits is None:
            return self.batch_size
        bucket = self._limits.buckets.get(channel.value)
        return self.batch_size if bucket is None else max(1, min(self.batch_size, int(bucket.rate * 2)))

    def _loop(self, channel: ChannelKind, wake: threading.Event) -> None:
        interval = max(0.01, self.settings.dispatch_interval_seconds)
        batch = self.channel_batch(channel)
        failing = False
        while not self._stop.is_set():
            wake.clear()
            try:
                handled = self.run_once(batch, channels=[channel])
                if failing:
                    log.info("outbox dispatch (%s) works again", channel.value)
                    failing = False
            except Exception as exc:  # the loop must survive a database outage; the rows stay claimable
                if not failing:  # one line when it starts failing, not one traceback per cycle
                    log.error("outbox dispatch (%s) failed: %s; retrying every second", channel.value,
                              _describe(exc), exc_info=not isinstance(exc, DBAPIError))
                failing = True
                handled = 0
                self._stop.wait(1.0)
            if handled < batch:
                wake.wait(interval)

    # --- one cycle -------------------------------------------------------------------------------------
    def run_once(self, limit: int | None = None, *, channels: list[ChannelKind] | None = None) -> int:
        """Claim up to ``limit`` due rows (of ``channels``, default all with a sender), send them, record
        outcomes; return how many rows were handled."""
        limit = limit or self.batch_size
        jobs, handled = self._claim(limit, channels)
        if jobs:
            self._send_all(jobs)
        return handled

    def drain(self, *, max_cycles: int = 10_000) -> int:
        """Run cycles until nothing is due (tests, CLI ``--once``); return rows handled."""
        total = 0
        for _ in range(max_cycles):
            n = self.run_once()
            total += n
            if n == 0:
                break
        return total

    # --- claim -----------------------------------------------------------------------------------------
    def _due(self, now: datetime):
        return or_(
            and_(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now),
            and_(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.claimed_until < now),
        )

    def _channels(self) -> list[ChannelKind]:
        out = []
        for name in self.senders:
            try:
                out.append(ChannelKind(name))
            except ValueError:
                log.warning("sender for unknown channel %r ignored", name)
        return out

    def _claim(self, limit: int, only: list[ChannelKind] | None = None) -> tuple[list[_Job], int]:
        channels = [c for c in self._channels() if only is None or c in only]
        if not channels:
            return [], 0
        with self._write_lock or nullcontext(), self.session_factory() as session, session.begin():
            now = self.now()
            due = self._due(now)
            mine = (OutboxMessage.identity_id.in_(self.only_identities) if self.only_identities is not None
                    else true())
            candidates = session.scalars(
                select(OutboxMessage.identity_id).where(due, mine, OutboxMessage.channel.in_(channels))
                # Replies to people in a conversation go before a backlog of notifications.
                .order_by(OutboxMessage.urgent.desc(), OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
            ).all()
            identity_ids = list(dict.fromkeys(candidates))
            if not identity_ids:
                return [], 0
            if not self._sqlite:
                identity_ids = list(session.scalars(
                    select(ChannelIdentity.id).where(ChannelIdentity.id.in_(identity_ids))
                    .with_for_update(skip_locked=True, key_share=True)
                ).all())
            if identity_ids:
                busy = set(session.scalars(
                    select(OutboxMessage.identity_id).where(
                        OutboxMessage.identity_id.in_(identity_ids), OutboxMessage.status == OutboxStatus.SENDING,
                        OutboxMessage.claimed_until >= now,
                    ).distinct()
                ).all())
                identity_ids = [i for i in identity_ids if i not in busy]
            if not identity_ids:
                return [], 0
            rows = session.execute(
                select(OutboxMessage, ChannelIdentity, Citizen)
                .join(ChannelIdentity, ChannelIdentity.id == OutboxMessage.identity_id)
                .join(Citizen, Citizen.id == ChannelIdentity.citizen_id)
                .where(OutboxMessage.identity_id.in_(identity_ids), due, OutboxMessage.channel.in_(channels))
                .order_by(OutboxMessage.id).limit(limit)
            ).all()
            jobs: list[_Job] = []
            claim_ids: list[int] = []
            for row, identity, citizen in rows:
                job = self._admit(session, now, row, identity, citizen)
                if job is not None:
                    jobs.append(job)
                    claim_ids.append(row.id)
            if claim_ids:
                session.execute(
                    update(OutboxMessage).where(OutboxMessage.id.in_(claim_ids))
                    .values(status=OutboxStatus.SENDING, claimed_by=self.worker_id,
                            claimed_until=now + self.lease, attempts=OutboxMessage.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
            self.stats.claimed += len(jobs)
            return jobs, len(rows)

    def _admit(self, session: Session, now: datetime, row: OutboxMessage, identity: ChannelIdentity,
               citizen: Citizen) -> _Job | None:
        """Apply the sending policy to one due row: return a job to send, or settle the row here."""
        channel = row.channel.value
        if identity.unreachable_at is not None and (
            identity.last_inbound_at is None or identity.last_inbound_at <= identity.unreachable_at
        ):
            self._fail_in_place(row, f"unreachable: {identity.unreachable_reason or 'unknown'}", now)
            return None
        if citizen.opted_out_at is not None and is_proactive(row.kind):
            self._fail_in_place(row, "opted_out: citizen asked not to receive notifications", now)
            return None
        if not row.urgent:
            until = quiet_until(now, self.settings.quiet_hours_start, self.settings.quiet_hours_end,
                                self.settings.timezone)
            if until is not None:
                row.status = OutboxStatus.PENDING
                row.next_attempt_at = until
                row.claimed_by = None
                row.claimed_until = None
                self.stats.deferred += 1
                return None
        message = outbound_from_row(row, identity.external_id)
        payload = row.payload or {}
        sms_body = payload.get("sms_body") or row.body
        if channel == ChannelKind.WHATSAPP.value and not message.content_sid and (
            identity.last_inbound_at is None or now - identity.last_inbound_at > WHATSAPP_WINDOW
        ):
            templates = self.settings.whatsapp_content_templates
            sid = templates.get(row.kind) or templates.get(row.kind.split("_", 1)[0])
            if sid:
                variables = {str(k): str(v) for k, v in (payload.get("template_variables") or {}).items()}
                message = replace(message, content_sid=sid, content_variables=variables)
            else:
                self._fallback_or_fail(
                    session, row, citizen, sms_body, now,
                    f"outside WhatsApp 24 h window and no Content template configured for kind {row.kind!r}",
                )
                return None
        return _Job(
            row_id=row.id, identity_id=identity.id, citizen_id=citizen.id, channel=channel,
            chat_key=identity.external_id, message=message, attempts=row.attempts + 1, kind=row.kind,
            urgent=row.urgent, ticket_id=row.ticket_id, phone=citizen.phone_e164, sms_body=sms_body,
        )

    def _fail_in_place(self, row: OutboxMessage, reason: str, now: datetime) -> None:
        row.status = OutboxStatus.FAILED
        row.last_error = reason
        row.claimed_by = None
        row.claimed_until = None
        self.stats.failed += 1
        log.info("outbox %s not sent: %s", row.id, reason.split(":", 1)[0])

    def _fallback_or_fail(self, session: Session, row: OutboxMessage, citizen: Citizen, sms_body: str,
                          now: datetime, why: str) -> None:
        fallback_id = self._sms_fallback(session, row.id, row.kind, row.urgent, row.ticket_id, citizen.phone_e164,
                                         sms_body)
        if fallback_id is None:
            self._fail_in_place(row, why + "; no SMS fallback (no phone or SMS not configured)", now)
        else:
            self._fail_in_place(row, why + f"; sent by SMS instead (outbox {fallback_id})", now)

    def _sms_fallback(self, session: Session, row_id: int, kind: str, urgent: bool, ticket_id: int | None,
                      phone: str | None, body: str) -> int | None:
        """Queue the same message by SMS to the citizen's phone; return the new row id, or None if impossible."""
        if not phone or ChannelKind.SMS.value not in self.senders:
            return None
        identity = get_or_create_identity(session, ChannelKind.SMS, phone)
        new = enqueue(session, identity, OutboundMessage(channel="sms", external_id=identity.external_id, text=body,
                                                         kind=kind),
                      kind=kind, urgent=urgent, dedupe_key=f"sms-fallback:{row_id}", ticket_id=ticket_id)
        self.stats.fallbacks += 1
        return new.id

    # --- send --------------------------------------------------------------------------------------------
    def _send_all(self, jobs: list[_Job]) -> None:
        """Send ``jobs`` (chats in parallel) and record each outcome as it comes; renew the claim meanwhile."""
        by_chat: dict[int, list[_Job]] = {}
        for job in jobs:
            by_chat.setdefault(job.identity_id, []).append(job)
        finished: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        futures = [self._pool.submit(self._send_chain, chain, finished.put) for chain in by_chat.values()]
        in_flight = {job.row_id for job in jobs}
        renew_every = self.lease.total_seconds() / 3
        renewed = time.monotonic()
        while in_flight:
            try:
                done = [finished.get(timeout=min(0.5, renew_every))]
            except queue.Empty:
                done = []
            # a short group-commit window: the outcomes that finish within RECORD_WINDOW share one transaction
            until = time.monotonic() + RECORD_WINDOW
            while done and len(done) < len(in_flight):
                left = until - time.monotonic()
                try:
                    done.append(finished.get(timeout=left) if left > 0 else finished.get_nowait())
                except queue.Empty:
                    break
            if done:
                self._record_until_done(done)  # recorded first, before anything else is sent or waited for
                in_flight.difference_update(j.row_id for j in done)
            elif all(f.done() for f in futures) and finished.empty():
                break  # a sending thread died (a bug): its rows come back when their lease expires
            if in_flight and time.monotonic() - renewed >= renew_every:
                self._renew(in_flight)
                renewed = time.monotonic()
        for f in futures:
            f.result()

    def _renew(self, row_ids: Collection[int]) -> None:
        """Extend the claim of rows still being sent (a failure is harmless: the next renewal tries again)."""
        try:
            with self._write_lock or nullcontext(), self.session_factory() as session, session.begin():
                session.execute(
                    update(OutboxMessage).where(OutboxMessage.id.in_(list(row_ids)),
                                                OutboxMessage.claimed_by == self.worker_id,
                                                OutboxMessage.status == OutboxStatus.SENDING)
                    .values(claimed_until=self.now() + self.lease).execution_options(synchronize_session=False))
        except DBAPIError as exc:
            log.warning("outbox: claim of %d row(s) not renewed: %s", len(row_ids), _describe(exc))

    def _record_until_done(self, jobs: list[_Job]) -> None:
        """``_record``, again every half second while the database is unreachable (up to ``record_patience``
        seconds): an outcome kept in memory beats a row re-sent when its lease expires."""
        deadline = time.monotonic() + self.record_patience
        failures = 0
        while True:
            try:
                self._record(jobs)
                if failures:
                    log.info("outbox: %d outcome(s) recorded after %d failed attempt(s)", len(jobs), failures)
                return
            except DBAPIError as exc:
                failures += 1
                if failures == 1:
                    log.error("outbox: %d outcome(s) could not be recorded (%s); kept and retried", len(jobs),
                              _describe(exc))
                if time.monotonic() > deadline or (self._stop.is_set() and failures > 20):
                    log.error("outbox: gave up recording %d outcome(s); their rows are sent again when the "
                              "lease expires", len(jobs))
                    raise
                time.sleep(0.5)

    def _send_chain(self, chain: list[_Job], finished: Callable[[_Job], None] = lambda job: None) -> None:
        """Send one chat's rows in order; a retry holds back the rest, an unreachable chat fails the rest. Each
        outcome goes to ``finished`` as soon as it is known."""
        for i, job in enumerate(chain):
            self._send_one(job)
            if job.status == "retry":
                for rest in chain[i + 1:]:
                    rest.status, rest.retry_after = "released", job.retry_after
                    rest.error = "waiting for an earlier message"
                for one in chain[i:]:
                    finished(one)
                return
            if job.status == "failed" and job.unreachable:
                for rest in chain[i + 1:]:
                    rest.status, rest.error, rest.unreachable = "failed", job.error, True
                for one in chain[i:]:
                    finished(one)
                return
            finished(job)

    def _send_one(self, job: _Job) -> None:
        sender = self.senders[job.channel]
        try:
            if self._limits is not None:
                self._limits.acquire(job.channel, job.chat_key)
            receipt = sender.send(job.message)
        except TransientSendError as exc:
            job.status, job.error, job.retry_after = "retry", f"transient: {exc}"[:2000], exc.retry_after
        except PermanentSendError as exc:
            code = None if exc.code is None else str(exc.code)
            job.error = f"permanent{f' {code}' if code else ''}: {exc}"[:2000]
            if code in OUTSIDE_WINDOW_CODES and job.channel == ChannelKind.WHATSAPP.value:
                job.status = "fallback"
            else:
                job.status, job.unreachable = "failed", bool(exc.unreachable)
        except Exception as exc:  # a bug or an unexpected library error: retry, never lose the row
            log.warning("outbox %s: unexpected send error %s", job.row_id, type(exc).__name__, exc_info=True)
            job.status, job.error = "retry", f"unexpected: {type(exc).__name__}: {exc}"[:2000]
        else:
            job.status, job.provider_message_id, job.sent_at = "sent", receipt.provider_message_id, self.now()

    # --- record ------------------------------------------------------------------------------------------
    def _record(self, jobs: list[_Job]) -> None:
        now = self.now()
        table = OutboxMessage.__table__
        c = table.c
        mine = and_(c.id == bindparam("b_id"), c.claimed_by == self.worker_id, c.status == OutboxStatus.SENDING)
        sent, retry, failed = [], [], []
        unreachable: dict[int, str] = {}
        fallbacks: list[_Job] = []
        max_attempts = self.settings.outbox_max_attempts
        for job in jobs:
            if job.status == "sent":
                sent.append({"b_id": job.row_id, "b_pid": job.provider_message_id, "b_at": job.sent_at or now})
            elif job.status in ("retry", "released"):
                if job.status == "retry" and job.attempts >= max_attempts:
                    failed.append({"b_id": job.row_id, "b_err": f"gave up after {job.attempts} attempts; {job.error}"})
                    continue
                delay = backoff_seconds(job.attempts, retry_after=job.retry_after, rng=self._rng)
                retry.append({"b_id": job.row_id, "b_next": now + timedelta(seconds=delay), "b_err": job.error,
                              "b_dec": 0 if job.status == "retry" else 1})
            elif job.status == "fallback":
                fallbacks.append(job)
            else:
                failed.append({"b_id": job.row_id, "b_err": job.error or "failed"})
                if job.unreachable:
                    unreachable[job.identity_id] = (job.error or "permanent failure")[:200]
        with self._write_lock or nullcontext(), self.session_factory() as session, session.begin():
            conn = session.connection()
            if sent:
                conn.execute(update(table).where(mine).values(
                    status=OutboxStatus.SENT, provider_message_id=bindparam("b_pid"), sent_at=bindparam("b_at"),
                    last_error=None, claimed_until=None), sent)
                self.apply_early_receipts(session, [j["b_pid"] for j in sent if j["b_pid"]])
            if retry:
                conn.execute(update(table).where(mine).values(
                    status=OutboxStatus.PENDING, next_attempt_at=bindparam("b_next"), last_error=bindparam("b_err"),
                    attempts=c.attempts - bindparam("b_dec"), claimed_until=None), retry)
            for job in fallbacks:
                fid = self._sms_fallback(session, job.row_id, job.kind, job.urgent, job.ticket_id, job.phone,
                                         job.sms_body)
                note = f"; sent by SMS instead (outbox {fid})" if fid else "; no SMS fallback (no phone or no SMS)"
                failed.append({"b_id": job.row_id, "b_err": (job.error or "") + note})
            if failed:
                conn.execute(update(table).where(mine).values(
                    status=OutboxStatus.FAILED, last_error=bindparam("b_err"), claimed_until=None), failed)
            for identity_id, reason in unreachable.items():
                session.execute(update(ChannelIdentity).where(ChannelIdentity.id == identity_id)
                                .values(unreachable_at=now, unreachable_reason=reason))
        self.stats.sent += len(sent)
        self.stats.retried += len(retry)
        self.stats.failed += len(failed)
        if failed or retry:
            log.info("outbox cycle: %d sent, %d to retry, %d failed", len(sent), len(retry), len(failed))

    # --- delivery receipts -------------------------------------------------------------------------------
    def status_callback(self, provider_message_id: str, status: str, *, error_code: str | int | None = None) -> bool:
        """Apply a provider receipt (Twilio ``MessageStatus``); return True when the row moved forward.

        ``queued < sent < delivered < read``; ``failed``/``undelivered`` end a row that was not yet
        delivered. A WhatsApp ``failed``/``undelivered`` with error 63016 (outside the 24 h window)
        queues the SMS fallback. A receipt for a provider id no row has yet (it arrived before ``_record``
        stored it) is kept in ``early_receipts`` and applied later; the call then returns False.
        """
        word = (status or "").strip().lower()
        if word not in _PROVIDER_STATUS or not provider_message_id:
            return False
        code = None if error_code is None or error_code == "" else str(error_code)
        with self.session_factory() as session, session.begin():
            q = select(OutboxMessage).where(OutboxMessage.provider_message_id == provider_message_id)
            if not self._sqlite:
                q = q.with_for_update()
            row = session.scalars(q).first()
            if row is None:
                session.add(EarlyReceipt(provider_message_id=provider_message_id, status=word, error_code=code,
                                         received_at=self.now()))
                log.info("receipt %s for %s arrived before the send was recorded; kept for later", word,
                         provider_message_id)
                return False
            return self.apply_receipt(session, row, word, code)

    def apply_receipt(self, session: Session, row: OutboxMessage, status: str, error_code: str | None) -> bool:
        """Move ``row`` forward for one provider receipt, in the caller's transaction; True when it moved.

        The one place receipts are applied (webhook, ``_record`` and the early-receipts job), so every path
        behaves alike: forward only, terminal states stay, a WhatsApp 63016 failure queues the SMS fallback.
        """
        new = _PROVIDER_STATUS.get((status or "").strip().lower())
        if new is None or row.status in _TERMINAL:
            return False
        now = self.now()
        if new in (OutboxStatus.FAILED, OutboxStatus.UNDELIVERED):
            if _RANK.get(row.status, 0) >= _RANK[OutboxStatus.DELIVERED]:
                return False
            row.status = new
            row.last_error = f"provider reported {status}" + (f" (error {error_code})" if error_code else "")
            if row.channel == ChannelKind.WHATSAPP and str(error_code) in OUTSIDE_WINDOW_CODES:
                self._receipt_fallback(session, row)
            return True
        if _RANK[new] <= _RANK.get(row.status, 0):
            return False
        row.status = new
        if new in (OutboxStatus.DELIVERED, OutboxStatus.READ) and row.delivered_at is None:
            row.delivered_at = now
        if row.sent_at is None:
            row.sent_at = now
        return True

    def _receipt_fallback(self, session: Session, row: OutboxMessage) -> None:
        """A WhatsApp receipt said "outside the 24 h window": queue the same words by SMS when possible."""
        identity = session.get(ChannelIdentity, row.identity_id)
        citizen = session.get(Citizen, identity.citizen_id) if identity else None
        phone = citizen.phone_e164 if citizen else None
        fid = self._sms_fallback(session, row.id, row.kind, row.urgent, row.ticket_id, phone,
                                 (row.payload or {}).get("sms_body") or row.body)
        if fid:
            row.last_error += f"; sent by SMS instead (outbox {fid})"

    def apply_early_receipts(self, session: Session, provider_ids: Collection[str] | None = None, *,
                             limit: int | None = None, skip_locked: bool = False) -> int:
        """Apply, then delete, the early receipts whose provider id an outbox row now has (only those of
        ``provider_ids`` when given), in the caller's transaction; return how many were applied.

        ``_record`` calls it with the ids it just stored (one SELECT when there are none); the
        ``apply_early_receipts`` job with none, a ``limit`` and ``skip_locked`` (two workers). Each receipt is
        applied in a savepoint: one that fails is logged and dropped, the others go on. Receipts no row took
        stay for the job, which drops them after a day.
        """
        if provider_ids is not None and not provider_ids:
            return 0
        stmt = (select(EarlyReceipt, OutboxMessage)
                .join(OutboxMessage, OutboxMessage.provider_message_id == EarlyReceipt.provider_message_id)
                .order_by(EarlyReceipt.id))
        if provider_ids is not None:
            stmt = stmt.where(EarlyReceipt.provider_message_id.in_(list(provider_ids)))
        if limit is not None:
            stmt = stmt.limit(limit)
        if not self._sqlite:  # both rows: the receipt (another worker) and the outbox row (the webhook)
            stmt = stmt.with_for_update(skip_locked=skip_locked)
        done: set[int] = set()
        for receipt, row in session.execute(stmt).all():
            if receipt.id in done:  # two outbox rows with one provider id: the first takes it
                continue
            done.add(receipt.id)
            try:
                with session.begin_nested():
                    self.apply_receipt(session, row, receipt.status, receipt.error_code)
            except Exception:  # logged and dropped: a receipt must never undo the recording of a send
                log.exception("early receipt %s for outbox %s could not be applied", receipt.id, row.id)
        if done:
            session.execute(delete(EarlyReceipt).where(EarlyReceipt.id.in_(done)))
            log.info("applied %d early receipt(s)", len(done))
        return len(done)
