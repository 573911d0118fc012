"""Evidence photos reach WhatsApp: Twilio is given a signed, expiring link that the app serves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.media import store_stream
from bot.media_links import media_link, resolve_link
from reporta.app import create_app
from reporta.runtime import Runtime
from reporta.settings import Settings
from tests.channels.conftest import JPEG, PUBLIC_URL, AppServer, settle, wait_until
from tests.fakes.twilio_api import FakeTwilio
from ticketing.attachments import add_attachment
from ticketing.citizens import get_or_create_identity
from ticketing.models import utcnow

CITIZEN = "+528112345670"


def test_links_are_signed_expire_and_stay_in_the_media_folder(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, var_dir=tmp_path, public_url="https://r.example.mx/", secret_key="k" * 32)
    stored = store_stream(settings, [JPEG])
    url = media_link(settings, stored.path, now=1000.0, ttl=60)
    parts = urlsplit(url)
    assert url.startswith("https://r.example.mx/media/") and "//media" not in url
    name = parts.path.removeprefix("/media/")
    query = dict(p.split("=") for p in parts.query.split("&"))
    assert resolve_link(settings, name, query["exp"], query["sig"], now=1059.0) == stored.path.resolve()
    assert resolve_link(settings, name, query["exp"], query["sig"], now=1061.0) is None  # expired
    assert resolve_link(settings, name, str(int(query["exp"]) + 3600), query["sig"], now=1000.0) is None
    assert resolve_link(settings, name, query["exp"], "0" * 40, now=1000.0) is None
    other = settings.model_copy(update={"secret_key": "another-key"})
    assert resolve_link(other, name, query["exp"], query["sig"], now=1000.0) is None
    outside = tmp_path / "secret.txt"
    outside.write_text("no")
    assert media_link(settings, outside) is None  # only files under the media folder get links
    assert media_link(settings.model_copy(update={"secret_key": None}), stored.path) is None  # nothing to sign with


@pytest.fixture
def runtime(channel_settings: Settings) -> Iterator[Runtime]:
    no_quiet_hours = channel_settings.model_copy(update={"quiet_hours_start": "00:00", "quiet_hours_end": "00:00"})
    rt = Runtime.from_settings(no_quiet_hours, migrate=False, dispatcher_options={"rate_limits": False})
    yield rt
    rt.close()


def test_resolved_with_evidence_sends_the_photo_link_and_the_app_serves_it(
        runtime: Runtime, fake_twilio: FakeTwilio) -> None:
    with AppServer(create_app(runtime)) as app:
        with runtime.session_factory() as s:
            identity = get_or_create_identity(s, "whatsapp", f"whatsapp:{CITIZEN}", seen_at=utcnow())
            service = runtime.ticket_service(s)
            ticket = service.create(category="pothole", description="Bache", channel="whatsapp",
                                    actor="citizen:1", lat=25.67, lon=-100.31, reporter_identity=identity)
            evidence = add_attachment(s, store_stream(runtime.settings, [JPEG]), message_id=None, kind="evidence")
            service.attach(ticket, evidence.id, actor="staff:ana")
            service.change_status(ticket, "resolved", actor="staff:ana", public_note="Quedó reparado.")
            s.commit()
            folio = ticket.folio
        runtime.wake_outbox()
        [sent] = wait_until(lambda: fake_twilio.sent(f"whatsapp:{CITIZEN}"), timeout=10)
        settle(runtime)
        assert folio in sent["Body"] and "Quedó reparado" in sent["Body"]
        link = sent["MediaUrl"]
        assert link.startswith(PUBLIC_URL + "/media/")
        assert time.time() < int(link.split("exp=")[1].split("&")[0])
        local = app.base_url + link.removeprefix(PUBLIC_URL)
        got = app.client.get(local)
        assert got.status_code == 200 and got.content == JPEG and got.headers["content-type"] == "image/jpeg"
        assert app.client.get(local.replace("sig=", "sig=0")).status_code == 403
        assert app.client.get(app.base_url + "/media/../../etc/passwd?exp=9999999999&sig=x").status_code in (403, 404)


def test_guessed_links_with_odd_characters_get_403(channel_settings: Settings) -> None:
    """Non-ASCII digits, a 5,000-digit expiry, a non-ASCII signature, a NUL in the name: 403, never 500."""
    rt = Runtime.from_settings(channel_settings, migrate=False)
    try:
        with AppServer(create_app(rt)) as app:
            for query in ("exp=%C2%B2&sig=abc", "exp=" + "9" * 5000 + "&sig=abc", "exp=9999999999&sig=%C3%B1" * 1,
                          "exp=9999999999&sig=" + "a" * 500, "exp=&sig=", ""):
                assert app.client.get(f"/media/ab/x.jpg?{query}").status_code == 403, query
            assert app.client.get("/media/ab/%00x.jpg?exp=9999999999&sig=abc").status_code in (403, 404)
    finally:
        rt.close()
