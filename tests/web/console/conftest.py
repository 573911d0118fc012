"""Console test helpers: staff accounts in two departments, a citizen handed to a person over the fake Telegram
and Twilio servers, and an HTTP client that signs in like a browser (the test server is plain http on 127.0.0.1
while the settings' public URL is https, so the cookies are ``Secure`` + ``__Host-``: this client keeps its own
jar instead of httpx's, which would not send Secure cookies over http)."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from reporta.runtime import Runtime
from reporta.settings import Settings
from tests.channels.conftest import AppServer, channel_settings_for, fixture, wait_until
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from ticketing.citizens import external_id_for
from ticketing.models import (
    ChannelIdentity,
    Conversation,
    ConversationMode,
    Department,
    StaffUser,
)
from web.console.passwords import hash_password

PASSWORD = "contraseña-de-prueba-1"
TOKEN = re.compile(r'name="csrf-token" content="([0-9a-f]+)"')
LOGIN_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@pytest.fixture
def channel_settings(settings: Settings, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio,
                     nlu_cache: Any) -> Settings:
    """The web fixtures' settings without quiet hours (status updates are not urgent and would wait)."""
    return channel_settings_for(settings, fake_telegram, fake_twilio, nlu_cache, quiet_hours_start="00:00",
                                quiet_hours_end="00:00")


@dataclass(frozen=True)
class Staff:
    id: int
    email: str
    name: str
    department: str | None
    role: str


@cache
def _hash_of(password: str) -> str:
    """One real argon2id hash per password for the run (0.2 s each): every account made with it shares the hash;
    each sign-in still verifies it at the production cost."""
    return hash_password(password)


def add_staff(rt: Runtime, email: str, name: str, department: str | None, role: str = "agent",
              password: str = PASSWORD) -> Staff:
    with rt.session_factory() as session:
        department_id = session.scalar(select(Department.id).where(Department.code == department)) if department \
            else None
        user = StaffUser(username=email, display_name=name, role=role, department_id=department_id,
                         password_hash=_hash_of(password), active=True, created_at=datetime.now(UTC))
        session.add(user)
        session.commit()
        return Staff(user.id, email, name, department, role)


@pytest.fixture
def staff(web_runtime: Runtime) -> dict[str, Staff]:
    """Agents of citizen attention (answers conversations without a report), public works and public services;
    a supervisor of citizen attention; an admin."""
    return {
        "attention": add_staff(web_runtime, "beto@municipio.gob.mx", "Beto Ramírez", "atencion_ciudadana"),
        "works": add_staff(web_runtime, "ana@municipio.gob.mx", "Ana López", "obras_publicas"),
        "services": add_staff(web_runtime, "ceci@municipio.gob.mx", "Ceci Treviño", "servicios_publicos"),
        "supervisor": add_staff(web_runtime, "dora@municipio.gob.mx", "Dora Salinas", "atencion_ciudadana",
                                "supervisor"),
        "admin": add_staff(web_runtime, "admin@municipio.gob.mx", "Admin General", None, "admin"),
    }


class Console:
    """A signed-in (or not) browser-like client with its own cookie jar."""

    def __init__(self, server: AppServer) -> None:
        self.http = httpx.Client(base_url=server.base_url, timeout=15, follow_redirects=False)
        self.jar: dict[str, str] = {}
        self.token = ""

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.jar:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        response = self.http.request(method, url, headers=headers, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            pair, *attributes = [part.strip() for part in header.split(";")]
            name, _, value = pair.partition("=")
            if any(a.lower() == "max-age=0" for a in attributes) or not value:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        if response.status_code == 200 and "text/html" in response.headers.get("content-type", ""):
            found = TOKEN.search(response.text)
            if found:
                self.token = found.group(1)
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, data: dict[str, Any] | None = None, *, token: str | None = None,
             **kwargs: Any) -> httpx.Response:
        form = dict(data or {})
        if token is None:
            token = self.token
        if token:
            form["csrf_token"] = token
        return self.request("POST", url, data=form, **kwargs)

    def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        page = self.get("/console/login")
        token = LOGIN_TOKEN.search(page.text).group(1)
        response = self.post("/console/login", {"email": email, "password": password}, token=token)
        if response.status_code == 303:
            self.get("/console/inbox")  # picks up the page's CSRF token
        return response

    def session_id(self) -> str | None:
        return next((v for k, v in self.jar.items() if k.endswith("reporta_console")), None)


@pytest.fixture
def console(web_app: AppServer) -> Iterator[Any]:
    made: list[Console] = []

    def make(email: str | None = None) -> Console:
        client = Console(web_app)
        made.append(client)
        if email:
            assert client.login(email).status_code == 303
        return client

    yield make
    for client in made:
        client.close()


_UPDATE = [900_000_000]


def telegram_text(app: AppServer, chat: int, text: str, name: str = "Lupita") -> None:
    data = copy.deepcopy(fixture("telegram", "text"))
    _UPDATE[0] += 1
    data["update_id"] = _UPDATE[0]
    data["message"].update(message_id=_UPDATE[0] % 100000, date=int(time.time()), text=text)
    data["message"]["chat"]["id"] = chat
    data["message"]["from"]["id"] = chat
    data["message"]["from"]["first_name"] = name
    data["message"]["chat"]["first_name"] = name
    assert app.telegram(data).status_code == 200


def twilio_text(app: AppServer, sender: str, text: str, *, channel: str = "whatsapp") -> None:
    data = dict(fixture("twilio", "whatsapp_text" if channel == "whatsapp" else "sms_text"))
    _UPDATE[0] += 1
    sid = f"SM{_UPDATE[0]:032x}"[:34]
    data.update(Body=text, MessageSid=sid, SmsMessageSid=sid, SmsSid=sid)
    if channel == "whatsapp":
        data.update(From=f"whatsapp:{sender}", WaId=sender.lstrip("+"), To="whatsapp:+528100000001")
    else:
        data.update(From=sender, To="+528100000000")
    assert app.twilio(data).status_code == 200


def conversation_of(rt: Runtime, channel: str, external_id: str) -> Conversation | None:
    with rt.session_factory() as session:
        return session.scalars(select(Conversation)
                               .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
                               .where(ChannelIdentity.channel == channel,
                                      ChannelIdentity.external_id == external_id_for(channel, external_id))
                               ).one_or_none()


def handed_off(rt: Runtime, channel: str, external_id: str) -> int:
    """Wait until the citizen's conversation waits for a person; its id."""
    def ready() -> int | None:
        conv = conversation_of(rt, channel, external_id)
        return conv.id if conv is not None and conv.mode == ConversationMode.HANDOFF else None

    return wait_until(ready, timeout=15)
