"""The scheduled jobs over tickets: "¿ya quedó?" surveys and their timeout, SLA warnings, overdue apologies.

Each job claims its due tickets in one transaction, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (two
workers never take the same ticket; SQLite's ``BEGIN IMMEDIATE`` serialises them), does its work,
marks the ticket (``survey_sent_at``, ``sla_warned_at``, ``overdue_notified_at``, or the close itself)
and commits, so a ticket is handled once. A failure on one ticket is logged and does not stop the others.

- ``send_surveys``: resolved, ``survey_due_at <= now``, not yet asked → ``dialogue.survey.begin_survey``
  → the question is enqueued for the reporter (waits out quiet hours); while the reporter's conversation is busy
  (a report in progress, another survey, staff) it waits ``SURVEY_RETRY`` and is tried again.
- ``expire_surveys``: asked more than ``survey_timeout_hours`` ago, no answer → closed as
  ``not_confirmed`` ("resolved, not confirmed").
- ``warn_sla``: open and due within ``sla_warning_hours`` → the staff hooks (default: a log line).
- ``notify_overdue``: open and past its commitment → every follower gets an honest late message, with
  staff's revised estimate when there is one.
- ``apply_early_receipts``: the safety net for delivery receipts that arrived before the dispatcher recorded
  the provider id and were committed just after it looked; applies those whose outbox row now exists (the
  dispatcher's ``apply_early_receipts``, the code ``_record`` uses) and deletes unmatched ones older than
  ``EARLY_RECEIPT_TTL``. Claimed like the tickets (``FOR UPDATE SKIP LOCKED`` on PostgreSQL).
- ``apply_retention``: ``REPORTA_RETENTION_MONTHS`` after closing, a ticket's personal data are removed; older
  messages and sent outbox rows are deleted, dormant citizens forgotten (``ticketing.privacy.apply_retention``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.render import Renderer
from notifications.outbox import enqueue
from notifications.updates import TicketContext, Update, recipients, render_channel, update_word
from reporta.messages import OutboundMessage
from reporta.settings import Settings
from ticketing.catalog import Catalog
from ticketing.db import is_sqlite
from ticketing.models import (
    ChannelIdentity,
    ChannelKind,
    EarlyReceipt,
    OutboxMessage,
    Ticket,
    TicketStatus,
    utcnow,
)

log = logging.getLogger(__name__)

StaffHook = Callable[[str, Ticket, dict[str, Any]], None]
#: ``apply(session, limit=, skip_locked=) -> applied``: the dispatcher's ``apply_early_receipts``.
ReceiptApplier = Callable[..., int]
#: An early receipt whose provider id no outbox row took within this long is dropped.
EARLY_RECEIPT_TTL = timedelta(hours=24)
#: A survey that must wait (the citizen is writing a report, answering another survey, talking to staff) is tried
#: again this much later.
SURVEY_RETRY = timedelta(minutes=10)
_staff_hooks: list[StaffHook] = []


def register_staff_hook(hook: StaffHook) -> StaffHook:
    """Add a staff notification hook: ``hook(kind, ticket, info)`` for ``sla_warning`` (e-mail, chat, ...)."""
    _staff_hooks.append(hook)
    return hook


def unregister_staff_hook(hook: StaffHook) -> None:
    if hook in _staff_hooks:
        _staff_hooks.remove(hook)


def _log_hook(kind: str, ticket: Ticket, info: dict[str, Any]) -> None:
    log.warning("%s: ticket %s (%s, department %s) is due %s", kind, ticket.folio, ticket.category_code,
                info.get("department"), info.get("due_at"))


class Jobs:
    """The ticket jobs; ``service_factory(session)`` gives a ``TicketService`` with the listeners wired."""

    def __init__(self, session_factory: sessionmaker[Session], settings: Settings, renderer: Renderer,
                 catalog: Catalog | None, service_factory: Callable[[Session], Any], *, batch_size: int = 200,
                 now: Callable[[], datetime] = utcnow, on_enqueue: Callable[[], None] | None = None,
                 apply_matched_receipts: ReceiptApplier | None = None) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.renderer = renderer
        self.catalog = catalog
        self.service_factory = service_factory
        self.batch_size = batch_size
        self.now = now
        self.on_enqueue = on_enqueue
        self.apply_matched_receipts = apply_matched_receipts
        self.ctx = TicketContext(settings, catalog)
        self._sqlite = is_sqlite(session_factory.kw["bind"])

    # --- plumbing ----------------------------------------------------------------------------------------
    def _run(self, name: str, where: Any, handle: Callable[[Session, Ticket, datetime], bool]) -> int:
        """Claim due tickets matching ``where`` and ``handle`` each in a savepoint; return how many were done."""
        done = 0
        with self.session_factory() as session, session.begin():
            now = self.now()
            stmt = select(Ticket).where(where(now)).order_by(Ticket.id).limit(self.batch_size)
            if not self._sqlite:
                stmt = stmt.with_for_update(skip_locked=True, of=Ticket)
            for ticket in session.scalars(stmt).all():
                try:
                    with session.begin_nested():
                        if handle(session, ticket, now):
                            done += 1
                except Exception:
                    log.exception("%s failed for ticket %s", name, ticket.id)
        if done and self.on_enqueue is not None:
            self.on_enqueue()
        return done

    def run_all(self) -> dict[str, int]:
        return {"send_surveys": self.send_surveys(), "expire_surveys": self.expire_surveys(),
                "warn_sla": self.warn_sla(), "notify_overdue": self.notify_overdue(),
                "apply_early_receipts": self.apply_early_receipts(), "expire_handoffs": self.expire_handoffs(),
                "apply_retention": self.apply_retention(), "indicator_rollup": self.indicator_rollup()}

    # --- the indicators' daily rollup -------------------------------------------------------------------------
    def indicator_rollup(self) -> int:
        """Roll up the days that ended and rebuild the dirty ones (``ticketing.rollup``; ``SKIP LOCKED``)."""
        if self.catalog is None:
            return 0
        from ticketing.rollup import DAYS_PER_TRANSACTION, refresh

        done = 0
        while done < self.batch_size:  # a few days a transaction: a change to one of them waits that long at most
            with self.session_factory() as session, session.begin():
                rebuilt = refresh(session, self.catalog, timezone=self.settings.timezone, now=self.now(),
                                  limit=min(DAYS_PER_TRANSACTION, self.batch_size - done))
            done += rebuilt
            if rebuilt < DAYS_PER_TRANSACTION:
                return done
        return done

    # --- handoffs nobody answered -----------------------------------------------------------------------------
    def expire_handoffs(self) -> int:
        """Conversations handed to staff that nobody answered in time go back to the bot (``dialogue.handoff``)."""
        if self.catalog is None:
            return 0
        from dialogue.handoff import expire_handoffs

        with self.session_factory() as session, session.begin():
            done = expire_handoffs(session, self.catalog, self.renderer, timezone=self.settings.timezone,
                                   now=self.now(), limit=self.batch_size)
        if done and self.on_enqueue is not None:
            self.on_enqueue()
        return done

    # --- "¿ya quedó?" ---------------------------------------------------------------------------------------
    def send_surveys(self) -> int:
        def due(now: datetime):
            return and_(Ticket.status == TicketStatus.RESOLVED, Ticket.survey_due_at <= now,
                        Ticket.survey_sent_at.is_(None), Ticket.confirmation.is_(None))

        return self._run("send_surveys", due, self._send_survey)

    def _send_survey(self, session: Session, ticket: Ticket, now: datetime) -> bool:
        from dialogue.survey import begin_survey

        ticket.survey_sent_at = now
        identity = session.get(ChannelIdentity, ticket.reporter_identity_id) if ticket.reporter_identity_id else None
        if identity is None or ChannelKind(identity.channel) in (ChannelKind.PHONE, ChannelKind.WALK_IN):
            return True  # nobody to ask: the timeout closes it as "resolved, not confirmed"
        message = begin_survey(session, identity, ticket, self.renderer, catalog=self.catalog, now=now,
                               report_idle=timedelta(hours=self.settings.conversation_idle_hours),
                               proactive_idle=timedelta(hours=self.settings.survey_timeout_hours))
        if message is None:  # a report being written, another survey, staff: ask once that is over
            ticket.survey_sent_at = None
            ticket.survey_due_at = now + SURVEY_RETRY
            return False
        row = enqueue(session, identity, message, kind="survey", urgent=False,
                      dedupe_key=f"survey:{ticket.id}:{ticket.reopen_count or 0}", ticket_id=ticket.id)
        # No "sms_body": the answer is expected on this identity's conversation (see docs/notifications.md).
        row.payload = {**(row.payload or {}),
                       "template_variables": {"1": ticket.folio, "2": self.ctx.category_name(ticket.category_code)}}
        return True

    def expire_surveys(self) -> int:
        timeout = timedelta(hours=self.settings.survey_timeout_hours)

        def due(now: datetime):
            return and_(Ticket.status == TicketStatus.RESOLVED, Ticket.survey_sent_at <= now - timeout,
                        Ticket.confirmation.is_(None))

        def close(session: Session, ticket: Ticket, now: datetime) -> bool:
            self.service_factory(session).close(ticket, actor="system", confirmation="not_confirmed")
            return True

        return self._run("expire_surveys", due, close)

    # --- service commitments ------------------------------------------------------------------------------
    def _commitment(self, ticket: Ticket) -> datetime:
        """The date promised to the citizen: the original due date, or the new one after a reopen."""
        if (ticket.reopen_count or 0) > 0 and ticket.revised_due_at is not None:
            return ticket.revised_due_at
        return ticket.due_at

    def warn_sla(self) -> int:
        ahead = timedelta(hours=self.settings.sla_warning_hours)

        def due(now: datetime):
            return and_(Ticket.is_open.is_(True), Ticket.sla_warned_at.is_(None), or_(
                and_(Ticket.reopen_count == 0, Ticket.due_at <= now + ahead),
                and_(Ticket.reopen_count > 0, func.coalesce(Ticket.revised_due_at, Ticket.due_at) <= now + ahead),
            ))

        def warn(session: Session, ticket: Ticket, now: datetime) -> bool:
            ticket.sla_warned_at = now
            info = {"due_at": self._commitment(ticket).isoformat(), "overdue": self._commitment(ticket) < now,
                    "department": ticket.department.code if ticket.department else None}
            for hook in [_log_hook, *_staff_hooks]:
                try:
                    hook("sla_warning", ticket, info)
                except Exception:
                    log.exception("staff hook %r failed for ticket %s", hook, ticket.id)
            return True

        return self._run("warn_sla", due, warn)

    def notify_overdue(self) -> int:
        def due(now: datetime):
            return and_(Ticket.is_open.is_(True), Ticket.overdue_notified_at.is_(None), or_(
                and_(Ticket.reopen_count == 0, Ticket.due_at < now),
                and_(Ticket.reopen_count > 0, func.coalesce(Ticket.revised_due_at, Ticket.due_at) < now),
            ))

        def notify(session: Session, ticket: Ticket, now: datetime) -> bool:
            ticket.overdue_notified_at = now
            revised = None
            if (ticket.reopen_count or 0) == 0 and ticket.revised_due_at is not None and ticket.revised_due_at > now:
                revised = ticket.revised_due_at
            update = Update("sla_overdue", {**self.ctx.base(ticket), "due": self.ctx.date(self._commitment(ticket)),
                                            "revised": self.ctx.date(revised)})
            for identity in recipients(session, ticket):
                self._enqueue(session, identity, ticket, update,
                              dedupe_key=f"overdue:{ticket.id}:{ticket.reopen_count or 0}:{identity.id}")
            return True

        return self._run("notify_overdue", due, notify)

    # --- delivery receipts that beat the dispatcher ----------------------------------------------------------
    def apply_early_receipts(self) -> int:
        """Apply early receipts whose outbox row now has their provider id, delete unmatched ones older than
        ``EARLY_RECEIPT_TTL``; return how many receipts were applied or dropped."""
        with self.session_factory() as session, session.begin():
            now = self.now()
            applied = 0
            if self.apply_matched_receipts is not None:
                applied = self.apply_matched_receipts(session, limit=self.batch_size, skip_locked=True)
            dropped = self._drop_stale_receipts(session, now - EARLY_RECEIPT_TTL)
        if applied or dropped:
            log.info("early receipts: %d applied, %d unmatched after %s dropped", applied, dropped, EARLY_RECEIPT_TTL)
        if applied and self.on_enqueue is not None:
            self.on_enqueue()  # a 63016 receipt may have queued an SMS fallback
        return applied + dropped

    def _drop_stale_receipts(self, session: Session, cutoff: datetime) -> int:
        matched = exists().where(OutboxMessage.provider_message_id == EarlyReceipt.provider_message_id)
        stmt = (select(EarlyReceipt.id).where(EarlyReceipt.received_at < cutoff, ~matched)
                .order_by(EarlyReceipt.id).limit(self.batch_size))
        if not self._sqlite:
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(session.scalars(stmt).all())
        if ids:
            session.execute(delete(EarlyReceipt).where(EarlyReceipt.id.in_(ids)))
        return len(ids)

    # --- retention of personal data ------------------------------------------------------------------------
    def apply_retention(self) -> int:
        """One batch of the retention policy (0 months: off); return how many tickets, messages, outbox rows
        and citizens it anonymised or deleted. Photo files go after the commit."""
        from ticketing.privacy import apply_retention, remove_files, retention_cutoff

        months = self.settings.retention_months
        if months <= 0:
            return 0
        with self.session_factory() as session:
            with session.begin():
                now = self.now()
                counts, files = apply_retention(session, cutoff=retention_cutoff(now, months), now=now,
                                                limit=min(self.batch_size, 100), skip_locked=not self._sqlite)
            if files:
                with session.begin():
                    remove_files(session, files)
        done = sum(counts.values())
        if done:
            log.info("retention: %s", ", ".join(f"{k}={v}" for k, v in counts.items()))
        return done

    def _enqueue(self, session: Session, identity: ChannelIdentity, ticket: Ticket, update: Update, *,
                 dedupe_key: str) -> None:
        channel = ChannelKind(identity.channel).value
        text = self.renderer.render(update.template, render_channel(identity), **update.context)
        row = enqueue(session, identity, OutboundMessage(channel=channel, external_id=identity.external_id,
                                                         text=text, kind=update.template),
                      kind=update.template, urgent=False, dedupe_key=dedupe_key, ticket_id=ticket.id)
        row.payload = {**(row.payload or {}),
                       "sms_body": self.renderer.render(update.template, "sms", **update.context),
                       "template_variables": {"1": ticket.folio, "2": update_word(self.renderer, update.template),
                                              "3": update.context.get("category", "")}}
