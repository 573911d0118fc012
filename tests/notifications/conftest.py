"""Fixtures for the notifications tests: a recording test Sender and outbox helpers."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from notifications.outbox import enqueue
from reporta.messages import OutboundMessage, SendReceipt
from ticketing.citizens import get_or_create_identity
from ticketing.models import ChannelIdentity, utcnow


@dataclass
class RecordingSender:
    """A test-only Sender (unit tests of the dispatcher): records messages; ``script`` decides failures.

    ``script(message, n)`` is called with the message and how many times this chat has been tried; it may
    raise a ``SendError`` or return None to accept.
    """

    channel: str = "telegram"
    sent: list[OutboundMessage] = field(default_factory=list)
    calls: int = 0
    script: Callable[[OutboundMessage, int], None] | None = None
    _tries: dict[str, int] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: OutboundMessage) -> SendReceipt:
        with self._lock:
            self.calls += 1
            n = self._tries.get(message.text, 0) + 1
            self._tries[message.text] = n
        if self.script is not None:
            self.script(message, n)
        with self._lock:
            self.sent.append(message)
            return SendReceipt(provider_message_id=f"{self.channel}-{next(self._ids)}")

    def texts(self) -> list[str]:
        return [m.text for m in self.sent]


@pytest.fixture
def recording_sender() -> Callable[..., RecordingSender]:
    return RecordingSender


def add_identity(session, channel: str = "telegram", external_id: str = "1001", *,
                 inbound_ago_hours: float | None = 1.0, phone: str | None = None) -> ChannelIdentity:
    from datetime import timedelta

    seen = None if inbound_ago_hours is None else utcnow() - timedelta(hours=inbound_ago_hours)
    identity = get_or_create_identity(session, channel, external_id, phone=phone, seen_at=seen)
    session.flush()
    return identity


def queue(session, identity: ChannelIdentity, text: str, **kw) -> int:
    kind = kw.pop("kind", "reply")
    payload_extra = kw.pop("payload", None)
    row = enqueue(session, identity, OutboundMessage(channel=identity.channel.value, external_id=identity.external_id,
                                                     text=text, kind=kind), kind=kind, **kw)
    if payload_extra:
        row.payload = {**(row.payload or {}), **payload_extra}
    session.flush()
    return row.id


# --- tickets with the real catalog, renderer and ticket service ---------------------------------------------

@pytest.fixture(scope="session")
def catalog():
    from reporta.settings import REPO_ROOT
    from ticketing.catalog import load_catalog

    return load_catalog(REPO_ROOT / "data" / "catalog.yml")


@pytest.fixture(scope="session")
def renderer():
    from dialogue.render import Renderer
    from reporta.settings import REPO_ROOT

    return Renderer(REPO_ROOT / "data" / "templates")


@dataclass
class Env:
    """What the updates/jobs tests need: settings, sessions, the listeners and a service factory."""

    settings: object
    session_factory: object
    catalog: object
    renderer: object
    listeners: list

    def service(self, session):
        from ticketing.service import TicketService

        return TicketService(session, self.catalog, timezone=self.settings.timezone, listeners=self.listeners)

    def jobs(self, **kw):
        from notifications.jobs import Jobs

        return Jobs(self.session_factory, self.settings, self.renderer, self.catalog, self.service, **kw)


@pytest.fixture
def env(settings, session_factory, catalog, renderer) -> Env:
    from notifications.updates import ticket_listeners

    return Env(settings, session_factory, catalog, renderer, ticket_listeners(settings, renderer, catalog))


def new_ticket(env: Env, session, reporter: ChannelIdentity | None, *, category: str = "pothole",
               followers: tuple[ChannelIdentity, ...] = ()):
    svc = env.service(session)
    ticket = svc.create(category=category, description="Bache enorme frente a la tienda", channel="telegram",
                        actor="system", lat=25.6866, lon=-100.3161, address="Av. Juárez 100, Centro",
                        reporter_identity=reporter)
    for f in followers:
        svc.subscribe(ticket, f, actor=f"citizen:{f.citizen_id}")
    session.flush()
    return ticket
