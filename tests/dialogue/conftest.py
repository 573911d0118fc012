"""A conversation harness: real stored Message rows, the real DialogueEngine, ticket service and NLU parser."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.engine import DialogueEngine
from dialogue.render import Renderer
from nlu.api import load_parser
from reporta.messages import InboundMessage, Location, Media, OutboundMessage
from reporta.settings import Settings
from ticketing.catalog import Catalog, load_catalog, sync_departments
from ticketing.citizens import get_or_create_identity
from ticketing.db import make_engine, make_session_factory, session_scope
from ticketing.models import (
    Attachment,
    ChannelIdentity,
    Conversation,
    Direction,
    InboundState,
    Message,
    Ticket,
    utcnow,
)
from ticketing.service import TicketService

_ids = itertools.count(1)


@pytest.fixture(scope="session")
def nlu_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One trained NLU model for the whole run (training takes a few seconds)."""
    return tmp_path_factory.mktemp("nlu-cache")


@dataclass
class Chat:
    """One citizen on one channel, talking to the engine; every turn is its own transaction."""

    world: World
    channel: str
    external_id: str
    clock: datetime = field(default_factory=utcnow)
    replies: list[OutboundMessage] = field(default_factory=list)

    def send(
        self,
        text: str | None = None,
        *,
        location: tuple[float, float] | None = None,
        photo: bool = False,
        bad_photo: bool = False,
        media_kind: str | None = None,
        payload: str | None = None,
        after: timedelta | None = None,
    ) -> list[OutboundMessage]:
        if after is not None:
            self.clock = self.clock + after
        else:
            self.clock = self.clock + timedelta(seconds=30)
        with session_scope(self.world.factory) as session:
            identity = get_or_create_identity(session, self.channel, self.external_id, seen_at=self.clock)
            media: list[Media] = []
            raw_kind = "text"
            if photo:
                attachment = Attachment(kind="photo", sha256=f"{next(_ids):064d}", content_type="image/jpeg",
                                        size_bytes=48_000, storage_path="media/x.jpg")
                session.add(attachment)
                session.flush()
                media.append(Media(kind="photo", content_type="image/jpeg", size_bytes=48_000,
                                   attachment_id=attachment.id))
                raw_kind = "photo"
            if bad_photo:
                media.append(Media(kind="photo", content_type="image/jpeg", size_bytes=50 * 1024 * 1024))
                raw_kind = "photo"
            if media_kind:
                media.append(Media(kind=media_kind, content_type="audio/ogg"))
                raw_kind = media_kind
            if location:
                raw_kind = "location"
            inbound = InboundMessage(
                channel=self.channel, external_id=self.external_id, provider_message_id=f"m{next(_ids)}",
                text=text, location=Location(*location) if location else None, media=tuple(media),
                received_at=self.clock, button_payload=payload, raw_kind=raw_kind,
            )
            message = Message(direction=Direction.INBOUND, channel=self.channel, identity_id=identity.id,
                              provider_message_id=inbound.provider_message_id, kind=raw_kind,
                              text=text.replace("\x00", "") if text else text,  # as the pipeline stores it
                              payload={}, state=InboundState.RECEIVED, created_at=self.clock)
            session.add(message)
            session.flush()
            out = self.world.engine.handle(session, message, inbound, identity)
            message.state = InboundState.PROCESSED
        self.replies = out
        return out

    @property
    def text(self) -> str:
        """All reply texts of the last turn, joined."""
        return "\n---\n".join(r.text for r in self.replies)

    def conversation(self) -> Conversation:
        with self.world.factory() as session:
            identity = session.scalars(select(ChannelIdentity).where(
                ChannelIdentity.external_id == self.external_id)).one()
            return session.scalars(select(Conversation).where(Conversation.identity_id == identity.id)).one()

    def tickets(self) -> list[Ticket]:
        with self.world.factory() as session:
            return list(session.scalars(select(Ticket).order_by(Ticket.id)))


@dataclass
class World:
    settings: Settings
    catalog: Catalog
    factory: sessionmaker[Session]
    engine: DialogueEngine
    renderer: Renderer

    def chat(self, channel: str = "whatsapp", external_id: str | None = None, *, consented: bool = True) -> Chat:
        external_id = external_id or (f"+52811{next(_ids):07d}" if channel in ("whatsapp", "sms")
                                      else str(700000 + next(_ids)))
        chat = Chat(self, channel, external_id)
        if consented:
            with session_scope(self.factory) as session:
                identity = get_or_create_identity(session, channel, external_id)
                identity.citizen.consent_at = utcnow()
        return chat

    def service(self, session: Session) -> TicketService:
        return TicketService(session, self.catalog, timezone=self.settings.timezone)


@pytest.fixture
def world(settings: Settings, nlu_cache: Path) -> Iterator[World]:
    settings = settings.model_copy(update={"nlu_cache_dir": nlu_cache})
    catalog = load_catalog(settings.catalog_path)
    db = make_engine(settings.database_url)
    factory = make_session_factory(db)
    with session_scope(factory) as session:
        sync_departments(session, catalog)
    renderer = Renderer(settings.templates_dir)
    engine = DialogueEngine(settings=settings, catalog=catalog, parser=load_parser(settings), renderer=renderer)
    try:
        yield World(settings, catalog, factory, engine, renderer)
    finally:
        db.dispose()
