"""The SQLAlchemy 2.x typed ORM schema: every table Reporta stores, and nothing else.

Changes to these classes need an Alembic migration in ``ticketing/migrations/versions``.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from ticketing.anonymise import cached_address

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on both databases: stored as UTC, always read back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


def _enum(cls: type[enum.Enum]) -> Enum:
    """Enums stored as their string values in a VARCHAR (no native PG enum: easier migrations)."""
    return Enum(cls, native_enum=False, values_callable=lambda e: [m.value for m in e], length=32,
                validate_strings=True)


class ChannelKind(enum.StrEnum):
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    SMS = "sms"
    SIMULATOR = "simulator"
    PHONE = "phone"  # staff recording a report taken by phone
    WALK_IN = "walk_in"  # staff recording a report taken in person
    WEB = "web"  # the browser chat at /reportar
    OPEN311 = "open311"  # filed by another app through Open311 GeoReport v2 (POST requests)


class TicketStatus(enum.StrEnum):
    RECEIVED = "received"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    NOT_RESOLVED = "not_resolved"
    CLOSED = "closed"


OPEN_STATUSES = frozenset({TicketStatus.RECEIVED, TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS})


class Direction(enum.StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class InboundState(enum.StrEnum):
    RECEIVED = "received"  # stored, not yet processed
    PROCESSED = "processed"
    FAILED = "failed"  # processing raised; kept for inspection and retry


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt (or quiet hours)
    SENDING = "sending"  # claimed by a dispatcher
    SENT = "sent"  # accepted by the provider
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"  # permanent failure, recorded
    UNDELIVERED = "undelivered"  # provider accepted, then could not deliver


class ConversationMode(enum.StrEnum):
    BOT = "bot"
    HANDOFF = "handoff"  # staff answer; the bot stays silent


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32), default="agent")  # agent | supervisor | admin
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    department: Mapped[Department | None] = relationship()


class Citizen(Base):
    __tablename__ = "citizens"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    phone_e164: Mapped[str | None] = mapped_column(String(20), index=True)
    consent_at: Mapped[datetime | None]
    opted_out_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    identities: Mapped[list[ChannelIdentity]] = relationship(back_populates="citizen")


class ChannelIdentity(Base):
    """One way to reach a citizen: a Telegram chat, a WhatsApp number, an SMS number."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identity_channel_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    channel: Mapped[ChannelKind] = mapped_column(_enum(ChannelKind))
    external_id: Mapped[str] = mapped_column(String(64))  # chat id, or E.164 phone for Twilio channels
    last_inbound_at: Mapped[datetime | None]  # opens WhatsApp's 24-hour customer-service window
    unreachable_at: Mapped[datetime | None]
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    citizen: Mapped[Citizen] = relationship(back_populates="identities")


class Conversation(Base):
    """The dialogue state of one channel identity; locked per message so turns never interleave."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id"), unique=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    mode: Mapped[ConversationMode] = mapped_column(_enum(ConversationMode), default=ConversationMode.BOT)
    flow: Mapped[str | None] = mapped_column(String(40))  # report | status | survey | ...
    step: Mapped[str | None] = mapped_column(String(40))
    slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    misunderstood_count: Mapped[int] = mapped_column(Integer, default=0)
    handoff_reason: Mapped[str | None] = mapped_column(String(40))
    handoff_requested_at: Mapped[datetime | None] = mapped_column(index=True)
    handoff_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    identity: Mapped[ChannelIdentity] = relationship()


class Message(Base):
    """The inbound/outbound message log. Inbound rows are the durable, idempotent inbox."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_message_id", name="uq_messages_channel_provider_id"),
        Index("ix_messages_inbox", "direction", "state"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    direction: Mapped[Direction] = mapped_column(_enum(Direction))
    channel: Mapped[ChannelKind] = mapped_column(_enum(ChannelKind))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("channel_identities.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    provider_message_id: Mapped[str | None] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(20), default="text")  # text | location | photo | voice | ...
    text: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the channel-neutral message
    state: Mapped[InboundState | None] = mapped_column(_enum(InboundState))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        # The duplicate finder's prefilter: same category, open, latitude band; longitude checked next.
        Index("ix_tickets_nearby", "category_code", "is_open", "lat", "lon"),
        Index("ix_tickets_status_category", "status", "category_code", "created_at"),
        Index("ix_tickets_department_status", "department_id", "status"),
        # The indicators' cohorts (ticketing.indicators): reports created in a period, overall or per department.
        Index("ix_tickets_created", "created_at"),
        Index("ix_tickets_department_created", "department_id", "created_at"),
        # The backlog over time: open reports by an index-only scan; reports out since a moment by last change.
        Index("ix_tickets_backlog", "status", "department_id", "created_at", "due_at"),
        Index("ix_tickets_updated", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    folio: Mapped[str] = mapped_column(String(16), unique=True)
    category_code: Mapped[str] = mapped_column(String(64))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus), default=TicketStatus.RECEIVED)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    reason_code: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(String(500))
    # ``ticketing.anonymise.public_address(address)``, kept when the address is written (see the end of this
    # module); the open data exports use it only while public_address_key matches the address and the rules
    public_address: Mapped[str | None] = mapped_column(String(500))
    public_address_key: Mapped[str | None] = mapped_column(String(32))
    landmark: Mapped[str | None] = mapped_column(String(500))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    channel: Mapped[ChannelKind] = mapped_column(_enum(ChannelKind))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"), index=True)
    reporter_identity_id: Mapped[int | None] = mapped_column(ForeignKey("channel_identities.id"))
    assigned_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    referred_to: Mapped[str | None] = mapped_column(String(200))
    scheduled_for: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    due_at: Mapped[datetime]
    revised_due_at: Mapped[datetime | None]  # staff's new estimate after the commitment was missed
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    # "¿Ya quedó?" survey and outcome, read by dashboards (on-time, reopen, satisfaction).
    confirmation: Mapped[str | None] = mapped_column(String(20))  # confirmed | not_confirmed | rejected
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    survey_due_at: Mapped[datetime | None] = mapped_column(index=True)
    survey_sent_at: Mapped[datetime | None]
    sla_warned_at: Mapped[datetime | None]
    overdue_notified_at: Mapped[datetime | None]
    # Personal data removed (the reporter forgotten, or the retention period after closing ran out).
    anonymised_at: Mapped[datetime | None]

    department: Mapped[Department] = relationship()
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan"
    )
    attachments: Mapped[list[Attachment]] = relationship(back_populates="ticket", order_by="Attachment.id")


class TicketEvent(Base):
    """The audit trail: one row for every change to a ticket, written in the same transaction."""

    __tablename__ = "ticket_events"
    # The indicators' semi-joins: tickets with a reopen or a routing correction (ticketing.indicators).
    __table_args__ = (Index("ix_ticket_events_kind", "kind", "ticket_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # created | status | assigned | attachment | duplicate | ...
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    reason_code: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(120))  # "staff:ana", "citizen:12", "system"
    public_note: Mapped[str | None] = mapped_column(Text)  # what the citizen reads
    internal_note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="photo")  # photo | evidence
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    storage_path: Mapped[str] = mapped_column(String(500))
    original_name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket | None] = relationship(back_populates="attachments")


class Subscription(Base):
    """A citizen following a ticket on one channel (the reporter is subscribed on creation)."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("ticket_id", "identity_id", name="uq_subscriptions_ticket_identity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """A message to send: claimed with row locks by dispatchers, retried with backoff, tracked to delivery."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id"), index=True)
    channel: Mapped[ChannelKind] = mapped_column(_enum(ChannelKind))
    kind: Mapped[str] = mapped_column(String(40), default="reply")  # reply | status_update | survey | ...
    urgent: Mapped[bool] = mapped_column(Boolean, default=True)  # False: waits out quiet hours
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # buttons, media, template variables
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_until: Mapped[datetime | None]
    provider_message_id: Mapped[str | None] = mapped_column(String(80), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class EarlyReceipt(Base):
    """A provider delivery receipt that arrived before its outbox row recorded the provider id.

    The dispatcher applies these when it records ``sent``; a scheduled job applies stragglers and drops
    receipts that never matched a row within a day. Several receipts may exist for one message.
    """

    __tablename__ = "early_receipts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    provider_message_id: Mapped[str] = mapped_column(String(80), index=True)
    status: Mapped[str] = mapped_column(String(32))  # the provider's word, e.g. "delivered", "undelivered"
    error_code: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class PrivacyRequest(Base):
    """A citizen's request about their personal data (Ley General de Protección de Datos Personales en Posesión de
    Sujetos Obligados, derechos ARCO), and its outcome: the audit trail of ``ticketing.privacy``.

    ``kind``: ``access`` (answered at once in the chat) or ``erasure`` (waits for staff: ``pending`` → ``done`` or
    ``rejected``). After an erasure the row keeps no personal data: ``citizen_id`` is cleared with the citizen and
    ``result`` counts what was removed.
    """

    __tablename__ = "privacy_requests"
    __table_args__ = (Index("ix_privacy_requests_status", "kind", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # access | erasure
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | done | rejected | answered
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"), index=True)
    channel: Mapped[str | None] = mapped_column(String(20))  # where it was asked (answers go back there)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(120))  # "staff:ana", "system:retention"
    note: Mapped[str | None] = mapped_column(Text)  # staff's note (a rejection's reason); never citizen text
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)  # counts of what was removed


# The retention job's scans (ticketing.privacy.apply_retention): old messages and outbox rows, closed tickets not
# yet anonymised by their last change.
Index("ix_messages_created_at", Message.created_at)
Index("ix_outbox_created_at", OutboxMessage.created_at)
Index("ix_tickets_retention", Ticket.anonymised_at, Ticket.is_open, Ticket.updated_at)
# --- the staff console (issue 9): sign-in sessions, login throttling, personal-data access log ---------------


class StaffSession(Base):
    """A signed-in browser: the cookie carries an opaque random id, the row only its sha256 (``id``)."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie's id
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]  # the absolute limit (12 h after sign-in)
    revoked_at: Mapped[datetime | None]
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class LoginAttempt(Base):
    """One sign-in attempt, kept for the throttle (per account and per address) and the security record."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_created", "username", "created_at"),
        Index("ix_login_attempts_address_created", "address", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    username: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PersonalDataAccess(Base):
    """Who saw a citizen's full phone number (or chat id), when, and why: the record a sujeto obligado shows."""

    __tablename__ = "personal_data_access"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    # Cleared when the citizen is forgotten (``ticketing.privacy``): the row stays as the record of the access.
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"), index=True)
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("channel_identities.id"))
    what: Mapped[str] = mapped_column(String(40), default="phone")
    reason: Mapped[str] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(String(300))  # the console page it was shown on
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationTicket(Base):
    """The report a handed-off conversation is about (made from it in the console): the conversation belongs to
    that report's department. A conversation without one belongs to the catalog's citizen-attention department."""

    __tablename__ = "conversation_tickets"

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


#: The ticket desk's queue: a department's tickets by effective due date (the revised one after a reopen).
Index("ix_tickets_queue", Ticket.department_id, Ticket.is_open,
      func.coalesce(Ticket.revised_due_at, Ticket.due_at))
#: The same queue filtered by category (the desk's most used filter).
Index("ix_tickets_queue_category", Ticket.department_id, Ticket.is_open, Ticket.category_code,
      func.coalesce(Ticket.revised_due_at, Ticket.due_at))


class Open311ApiKey(Base):
    """A key another application uses to file reports through Open311 (``POST /open311/v2/requests``).

    Only the key's SHA-256 is stored; ``prefix`` (its first characters) lets staff tell keys apart."""

    __tablename__ = "open311_api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class HandoffLog(Base):
    """One escalation of a conversation to staff, kept after the conversation is handed back (the indicators'
    escalations and first response time read it; ``Conversation.handoff_requested_at`` is cleared on hand-back).

    No personal data: no text, no draft, no name; ``conversation_id`` is set to NULL when the citizen is forgotten
    (``ticketing.privacy.forget_citizen``), the timings stay for the statistics."""

    __tablename__ = "handoff_log"
    __table_args__ = (Index("ix_handoff_log_conversation_open", "conversation_id", "closed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(40))  # requested | not_understood | abusive | anguished
    requested_at: Mapped[datetime] = mapped_column(index=True)
    taken_at: Mapped[datetime | None]  # a staff member took it (console) or answered it
    first_reply_at: Mapped[datetime | None]  # the first staff message to the citizen
    closed_at: Mapped[datetime | None]
    closed_how: Mapped[str | None] = mapped_column(String(20))  # staff | timeout | citizen | console_close


class IndicatorDayState(Base):
    """One local day of the indicators' daily rollup (``ticketing.rollup``): its bounds in UTC and whether its
    rows in ``indicator_days`` / ``indicator_day_hours`` are exact (``dirty`` false) or must be read live."""

    __tablename__ = "indicator_day_state"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(unique=True)
    ends_at: Mapped[datetime]
    dirty: Mapped[bool] = mapped_column(Boolean, default=True)
    refreshed_at: Mapped[datetime | None]


class IndicatorDay(Base):
    """The additive figures of the *settled* (not open) reports created on one local day, per department ×
    category × channel × outcome (the reason of a report closed without a fix, else NULL). Columns as
    ``ticketing.indicators.Counts``."""

    __tablename__ = "indicator_days"
    __table_args__ = (Index("ix_indicator_days_day", "day", "department_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, ForeignKey("indicator_day_state.day", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    category_code: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(64))
    reports: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    judged: Mapped[int] = mapped_column(Integer, default=0)
    on_time: Mapped[int] = mapped_column(Integer, default=0)
    open_overdue: Mapped[int] = mapped_column(Integer, default=0)
    ever_resolved: Mapped[int] = mapped_column(Integer, default=0)
    reopened_after_resolution: Mapped[int] = mapped_column(Integer, default=0)
    asked: Mapped[int] = mapped_column(Integer, default=0)
    confirmed: Mapped[int] = mapped_column(Integer, default=0)
    rated: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0)
    rating_1: Mapped[int] = mapped_column(Integer, default=0)
    rating_2: Mapped[int] = mapped_column(Integer, default=0)
    rating_3: Mapped[int] = mapped_column(Integer, default=0)
    rating_4: Mapped[int] = mapped_column(Integer, default=0)
    rating_5: Mapped[int] = mapped_column(Integer, default=0)
    rerouted: Mapped[int] = mapped_column(Integer, default=0)
    open: Mapped[int] = mapped_column(Integer, default=0)


class IndicatorDayHours(Base):
    """How many settled reports of one local day, department and category took each quantised business-hour
    duration to resolve (``ticketing.indicators.quantise_hours``; ``tenths`` = hours × 10)."""

    __tablename__ = "indicator_day_hours"
    __table_args__ = (Index("ix_indicator_day_hours_day", "day", "department_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, ForeignKey("indicator_day_state.day", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    category_code: Mapped[str] = mapped_column(String(64))
    tenths: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer)


#: The reports reopened after a resolution (the "falsos positivos" flag of ``ticketing.indicators.cohort_rows``):
#: an index-only scan instead of reading every reopen event's JSON.
Index("ix_ticket_events_false_positive", TicketEvent.ticket_id,
      postgresql_where=text("kind = 'reopened' AND (data ->> 'previous_reason') = 'resolved'"),
      sqlite_where=text("kind = 'reopened' AND json_extract(data, '$.previous_reason') = 'resolved'"))
#: Open reports by creation date: the live part of the rollup-backed indicators (``ticketing.rollup``).
Index("ix_tickets_open_created", Ticket.created_at, postgresql_where=Ticket.is_open.is_(True),
      sqlite_where=Ticket.is_open.is_(True))


@event.listens_for(Ticket.address, "set")
def _keep_public_address(target: Ticket, value: str | None, _old: Any, _initiator: Any) -> None:
    """Whenever a ticket's address is written through the ORM, its published form is computed once and kept
    with its key (``ticketing.anonymise.cached_address``): the exports of a million tickets then need not clean a
    million addresses. Writes that bypass the ORM leave a key that no longer matches: the export cleans those."""
    target.public_address, target.public_address_key = cached_address(value)
