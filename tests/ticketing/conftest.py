"""Fixtures for the ticket store tests: the real catalog, a session per test, a service factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from reporta.settings import REPO_ROOT
from ticketing.catalog import Catalog, load_catalog
from ticketing.models import ChannelIdentity, ChannelKind, Citizen
from ticketing.service import TicketService

CATALOG_PATH = REPO_ROOT / "data" / "catalog.yml"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(CATALOG_PATH)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    s = session_factory()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


class Clock:
    """A settable clock for the service (aware datetimes)."""

    def __init__(self, start: datetime):
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def make_service(session: Session, catalog: Catalog) -> Callable[..., TicketService]:
    def factory(**kwargs) -> TicketService:
        return TicketService(session, catalog, **kwargs)

    return factory


@pytest.fixture
def service(make_service) -> TicketService:
    return make_service()


@pytest.fixture
def make_identity(session: Session) -> Callable[..., ChannelIdentity]:
    counter = iter(range(1, 10_000))

    def factory(channel: ChannelKind = ChannelKind.TELEGRAM, citizen: Citizen | None = None) -> ChannelIdentity:
        if citizen is None:
            citizen = Citizen(display_name="Vecina")
            session.add(citizen)
            session.flush()
        identity = ChannelIdentity(citizen_id=citizen.id, channel=channel, external_id=f"chat-{next(counter)}")
        session.add(identity)
        session.flush()
        return identity

    return factory


def write(tmp_path: Path, text: str, name: str = "catalog.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
