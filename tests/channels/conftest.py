"""Fixtures for the channel tests: fake Telegram/Twilio servers, settings pointing at them, a running app."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from twilio.request_validator import RequestValidator

from reporta.app import create_app
from reporta.runtime import Runtime
from reporta.settings import Settings
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TG_TOKEN = "7000000001:AAE-test-token"
TG_SECRET = "s3cr3t-webhook-token"
TW_SID = "AC" + "1" * 32
TW_TOKEN = "twilio-test-auth-token"
WA_NUMBER = "+528100000001"
SMS_NUMBER = "+528100000000"
PUBLIC_URL = "https://reporta.example.gob.mx"  # what Twilio signs; the test server itself is on 127.0.0.1

# A small but well-formed JPEG header (APP0, then a 640×480 start-of-frame) followed by filler: enough for
# magic-byte sniffing, the dimension check and hashing.
JPEG = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        b"\xff\xc0\x00\x11\x08\x01\xe0\x02\x80\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
        + bytes(range(256)) * 8 + b"\xff\xd9")
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" + b"0" * 2000


def png_image(width: int = 1, height: int = 1) -> bytes:
    """A real, decodable PNG of ``width`` × ``height``: grey asphalt with a dark patch in the middle (a browser draws
    it; ``JPEG`` above only passes sniffing and the dimension check)."""
    radius2 = (min(width, height) // 4) ** 2

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    dark, grey = b"\x3a\x3a\x3a", b"\x8c\x8c\x88"
    rows = b"".join(
        b"\x00" + b"".join(dark if (x - width // 2) ** 2 + (y - height // 2) ** 2 < radius2 else grey
                          for x in range(width))
        for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")




def fixture(channel: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / channel / f"{name}.json").read_text(encoding="utf-8"))


def sign(url: str, form: dict[str, str], token: str = TW_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form)


@pytest.fixture(scope="session")
def nlu_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nlu-cache")


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TG_TOKEN) as tg:
        yield tg


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(account_sid=TW_SID, auth_token=TW_TOKEN) as tw:
        yield tw


def channel_settings_for(base: Settings, tg: FakeTelegram | None, tw: FakeTwilio | None, nlu_cache: Path,
                         **extra: Any) -> Settings:
    update: dict[str, Any] = {"nlu_cache_dir": nlu_cache, "public_url": PUBLIC_URL,
                              "dispatch_interval_seconds": 0.05, **extra}
    if tg is not None:
        update.update(telegram_token=TG_TOKEN, telegram_webhook_secret=TG_SECRET,
                      telegram_api_base_url=tg.base_url)
    if tw is not None:
        update.update(twilio_account_sid=TW_SID, twilio_auth_token=TW_TOKEN, twilio_api_base_url=tw.base_url,
                      twilio_whatsapp_number=WA_NUMBER, twilio_sms_number=SMS_NUMBER)
    return base.model_copy(update=update)


@pytest.fixture
def channel_settings(settings: Settings, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio,
                     nlu_cache: Path) -> Settings:
    return channel_settings_for(settings, fake_telegram, fake_twilio, nlu_cache)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """``reporta.app`` served by uvicorn in a thread on 127.0.0.1 (real HTTP)."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.client = httpx.Client(base_url=self.base_url, timeout=10)

    def __enter__(self) -> AppServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("app server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def telegram(self, update: dict[str, Any], secret: str | None = TG_SECRET) -> httpx.Response:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        return self.client.post("/webhooks/telegram", json=update, headers=headers)

    def twilio(self, form: dict[str, str], path: str = "/webhooks/twilio", signature: str | None = None,
               ) -> httpx.Response:
        sig = signature if signature is not None else sign(PUBLIC_URL + path, form)
        return self.client.post(path, data=form, headers={"X-Twilio-Signature": sig})


@pytest.fixture
def runtime(channel_settings: Settings) -> Iterator[Runtime]:
    """The whole runtime on the fake providers (the end-to-end tests' default)."""
    # Pacing off (Telegram's one message per second per chat) keeps these tests fast; the dispatcher's own
    # tests cover rate limits.
    rt = Runtime.from_settings(channel_settings, migrate=False, dispatcher_options={"rate_limits": False})
    yield rt
    rt.close()


@pytest.fixture
def app(runtime: Runtime) -> Iterator[AppServer]:
    """``reporta.app`` over that runtime, served on 127.0.0.1."""
    with AppServer(create_app(runtime)) as server:
        yield server


def wait_until(predicate: Any, timeout: float = 5.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def settle(rt: Any, timeout: float = 5.0) -> None:
    """Wait until the inbox is processed and the outbox has nothing pending or in flight."""
    from sqlalchemy import func, select

    from ticketing.models import InboundState, Message, OutboxMessage, OutboxStatus

    def idle() -> bool:
        with rt.session_factory() as s:
            busy = s.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING])))
            waiting = s.scalar(select(func.count()).select_from(Message).where(
                Message.state == InboundState.RECEIVED))
        return busy == 0 and waiting == 0

    wait_until(idle, timeout)
