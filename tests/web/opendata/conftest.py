"""Fixtures of the open data, Open311 and web report chat tests: the whole app over both databases (from
``tests/web/conftest.py``) with quiet hours off (status updates reach the web page at once, any time of day),
a web citizen's browser session over plain HTTP (no JavaScript), and tickets full of personal data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from reporta.app import create_app
from reporta.runtime import Runtime
from reporta.settings import Settings
from tests.channels.conftest import AppServer
from ticketing.models import ChannelIdentity, ChannelKind, Citizen

SCHEMAS = Path(__file__).resolve().parents[3] / "web" / "opendata" / "schemas"


@pytest.fixture
def od_settings(channel_settings: Settings) -> Settings:  # from tests/web/conftest.py (one browser per session)
    # public_url on http: the cookie is Secure only when the site is served over https
    return channel_settings.model_copy(update={"quiet_hours_start": "00:00", "quiet_hours_end": "00:00",
                                               "public_url": "http://127.0.0.1",
                                               "web_report_posts_per_minute": 1000})


@pytest.fixture
def od_runtime(od_settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.from_settings(od_settings, migrate=False, dispatcher_options={"rate_limits": False})
    yield rt
    rt.close()


@pytest.fixture
def od_app(od_runtime: Runtime) -> Iterator[AppServer]:
    with AppServer(create_app(od_runtime)) as server:
        yield server


_HIDDEN = re.compile(r'<input type="hidden" name="(csrf_token|nonce)" value="([^"]*)"')


class WebCitizen:
    """A citizen in a browser without JavaScript: plain GETs and form posts, cookies kept, redirects followed."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=20, follow_redirects=True)
        self.html = self.client.get("/reportar").text

    def fields(self) -> dict[str, str]:
        found = dict(_HIDDEN.findall(self.html))
        assert {"csrf_token", "nonce"} <= set(found), "the page has no form tokens"
        return found

    def post(self, **data: str) -> httpx.Response:
        resp = self.client.post("/reportar", data={**self.fields(), **data})
        self.html = resp.text
        return resp

    def say(self, text: str) -> httpx.Response:
        return self.post(text=text)

    def press(self, payload: str) -> httpx.Response:
        titles = dict(self.buttons())
        assert payload in titles, f"option {payload!r} not offered; offered: {titles}"
        return self.post(button=payload, button_title=titles[payload])

    def photo(self, content: bytes, name: str = "foto.jpg", content_type: str = "image/jpeg") -> httpx.Response:
        resp = self.client.post("/reportar/foto", data=self.fields(), files={"foto": (name, content, content_type)})
        self.html = resp.text
        return resp

    def buttons(self) -> list[tuple[str, str]]:
        """(payload, title) of the options offered by the newest message."""
        return re.findall(r'<button type="submit" name="button" value="([^"]*)" class="secondary">([^<]*)</button>',
                          self.html)

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def web_citizen(od_app: AppServer) -> Iterator[WebCitizen]:
    citizen = WebCitizen(od_app.base_url)
    yield citizen
    citizen.close()


@dataclass
class Personal:
    """Personal data planted in tickets: none of it may appear in any public response."""

    values: tuple[str, ...]


def add_identity(session: Any, channel: ChannelKind, external_id: str, *, name: str | None = None,
                 phone: str | None = None) -> ChannelIdentity:
    citizen = Citizen(display_name=name, phone_e164=phone)
    session.add(citizen)
    session.flush()
    identity = ChannelIdentity(citizen_id=citizen.id, channel=channel, external_id=external_id)
    session.add(identity)
    session.flush()
    return identity
