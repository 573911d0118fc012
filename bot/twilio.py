"""WhatsApp and SMS through Twilio (the ``twilio`` library): signature check with ``RequestValidator``,
form post → ``InboundMessage`` (``From`` starting with ``whatsapp:`` is WhatsApp), media download with the
account's Basic auth, and sending through ``twilio.rest.Client``.

``REPORTA_TWILIO_API_BASE_URL`` replaces ``https://api.twilio.com``: ``BaseUrlHttpClient`` rewrites the URLs
the SDK builds, so tests talk to a fake server with the real SDK. Signatures are checked against
``REPORTA_PUBLIC_URL`` + path, because proxies rewrite the scheme and host Twilio signed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.rest import Client

from bot import safe_fetch
from bot.channel import CAPABILITIES, BadRequest, Download, Forbidden
from bot.edge import bounded
from bot.media_links import media_link
from bot.render_options import format_options
from bot.telegram import split_text
from reporta.messages import (
    InboundMessage,
    Location,
    Media,
    OutboundMessage,
    PermanentSendError,
    SendReceipt,
    TransientSendError,
)
from reporta.settings import Settings
from ticketing.citizens import normalise_phone

log = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"
MAX_BODY = 1600
# Error codes meaning "this number will never get our messages" (invalid, landline, unsubscribed...).
UNREACHABLE_CODES = frozenset({21211, 21214, 21217, 21407, 21408, 21421, 21610, 21612, 21614, 63003, 63024})
OUTSIDE_WINDOW = 63016  # WhatsApp free-form message outside the 24 h window: use a template instead


class BaseUrlHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, with ``https://api.twilio.com`` rewritten to a configured base URL."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any):  # type: ignore[override]
        if self.base_url != TWILIO_API and url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API):]
        return super().request(method, url, *args, **kwargs)


class FormPairs:
    """A posted form as Twilio signed it: every (name, value) pair in order, repeated names kept. ``getall`` is
    what ``RequestValidator`` asks a multi-dict for; ``first()`` is what the parser reads."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k for k, _ in self.pairs))

    def __len__(self) -> int:
        return len(self.pairs)

    def getall(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]

    def first(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in self.pairs:
            out.setdefault(k, v)
        return out


def _whatsapp_address(number: str) -> str:
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


class TwilioChannel:
    """One Twilio account serving WhatsApp and SMS (``channel`` = "whatsapp" or "sms" per message)."""

    name = "twilio"

    def __init__(self, settings: Settings, *, timeout: float = 10.0) -> None:
        if not (settings.twilio_account_sid and settings.twilio_auth_token):
            raise ValueError("REPORTA_TWILIO_ACCOUNT_SID and REPORTA_TWILIO_AUTH_TOKEN are not set")
        self.settings = settings
        self.account_sid = settings.twilio_account_sid
        self._auth_token = settings.twilio_auth_token
        self.validator = RequestValidator(settings.twilio_auth_token)
        self.base_url = settings.twilio_api_base_url.rstrip("/")
        self.client = Client(settings.twilio_account_sid, settings.twilio_auth_token,
                             http_client=BaseUrlHttpClient(self.base_url, timeout=timeout, max_retries=0))
        self.status_callback = settings.public_url.rstrip("/") + "/webhooks/twilio/status"
        base = urlsplit(self.base_url)
        self.allowlist = safe_fetch.Allowlist.from_settings(settings.twilio_media_hosts,
                                                            f"{base.scheme}://{base.netloc}")
        self._http = safe_fetch.guarded_client(self.allowlist, timeout=httpx.Timeout(5.0, connect=5.0))
        self.senders = {"whatsapp": TwilioSender(self, "whatsapp"), "sms": TwilioSender(self, "sms")}

    def close(self) -> None:
        self._http.close()

    # --- inbound ----------------------------------------------------------------------------------

    def public_url_for(self, path: str, query: str = "") -> str:
        url = self.settings.public_url.rstrip("/") + path
        return f"{url}?{query}" if query else url

    def check_signature(self, path: str, query: str, params: FormPairs | Mapping[str, str], signature: str | None,
                        *, body: str | None = None, settings_header: str | None = None) -> None:
        """``X-Twilio-Signature`` over ``REPORTA_PUBLIC_URL`` + path (+ query) and the posted fields, as the SDK's
        ``RequestValidator`` checks it: every value of a repeated field signed, the algorithm named by
        ``X-Twilio-Webhooks-Signature-Settings`` (HMAC-SHA1 by default, HMAC-SHA256 with a SharedKey), and for a
        JSON body the ``bodySHA256`` query parameter checked against the raw ``body``."""
        url = self.public_url_for(path, query)
        algorithm = get_signature_algorithm(settings_header)
        validator = self.validator
        if settings_header and self.settings.twilio_webhook_signing_key:
            validator = RequestValidator(self.settings.twilio_webhook_signing_key)
        signed: Any = params
        if "bodySHA256" in parse_qs(query) and body is not None:
            signed = body
        if not signature or not validator.validate(url, signed, signature, algorithm=algorithm):
            raise Forbidden("bad Twilio signature")

    def parse(self, form: Mapping[str, str]) -> list[InboundMessage]:
        sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
        sender = form.get("From")
        if not sid or not sender:
            raise BadRequest("Twilio message without MessageSid or From")
        channel = "whatsapp" if sender.startswith("whatsapp:") else "sms"
        phone = normalise_phone(sender)
        if phone is None:
            raise BadRequest("Twilio From is not a phone number")
        text = form.get("Body") or None
        common: dict[str, Any] = {"channel": channel, "external_id": phone, "provider_message_id": sid,
                                  "phone_e164": phone, "display_name": form.get("ProfileName") or None}
        if form.get("ButtonPayload"):
            return [bounded(InboundMessage(**common, text=form.get("ButtonText") or text,
                                           button_payload=form["ButtonPayload"], raw_kind="text"))]
        lat, lon = form.get("Latitude"), form.get("Longitude")
        if lat and lon:
            try:
                location = Location(float(lat), float(lon), form.get("Address") or form.get("Label") or None)
            except ValueError as exc:
                raise BadRequest("Twilio Latitude/Longitude are not numbers") from exc
            if not (-90 <= location.lat <= 90 and -180 <= location.lon <= 180):
                raise BadRequest("Twilio Latitude/Longitude out of range")
            return [bounded(InboundMessage(**common, text=text, location=location, raw_kind="location"))]
        try:
            count = int(form.get("NumMedia") or 0)
        except ValueError as exc:
            raise BadRequest("Twilio NumMedia is not a number") from exc
        media: list[Media] = []
        for i in range(min(count, 10)):
            url = form.get(f"MediaUrl{i}")
            if not url:
                continue
            ctype = form.get(f"MediaContentType{i}") or None
            kind = "photo" if (ctype or "").startswith("image/") else _media_kind(ctype)
            media.append(Media(kind=kind, content_type=ctype, url=url))
        if media:
            return [bounded(InboundMessage(**common, text=text, media=tuple(media), raw_kind=media[0].kind))]
        if text is None:
            return [bounded(InboundMessage(**common, raw_kind="unsupported"))]
        return [bounded(InboundMessage(**common, text=text, raw_kind="text"))]

    @contextmanager
    def fetch_media(self, media: Media) -> Iterator[Download]:
        """Stream ``MediaUrlN`` from an allowed host only (``bot.safe_fetch``: allowlist, public addresses, every
        redirect checked); the account's Basic auth goes only to the Twilio API host."""
        if not media.url:
            raise ValueError("Twilio media without url")
        api_hosts = {urlsplit(self.base_url).netloc, "api.twilio.com"}

        def auth_for(url: str) -> tuple[str, str] | None:
            return (self.account_sid, self._auth_token) if urlsplit(url).netloc in api_hosts else None

        with safe_fetch.stream(self._http, self.allowlist, media.url, auth_for=auth_for) as response:
            length = response.headers.get("content-length")
            yield Download(response.iter_bytes(), response.headers.get("content-type"),
                           int(length) if length and length.isdigit() and len(length) < 19 else None)

    # --- outbound ---------------------------------------------------------------------------------

    def send(self, channel: str, message: OutboundMessage) -> SendReceipt:
        if channel == "whatsapp":
            number = self.settings.twilio_whatsapp_number
            to, from_ = _whatsapp_address(message.external_id), _whatsapp_address(number or "")
        else:
            number = self.settings.twilio_sms_number
            to, from_ = message.external_id, number or ""
        if not number:
            raise PermanentSendError(f"no Twilio {channel} number configured", code="config", unreachable=False)
        kwargs: dict[str, Any] = {"to": to, "from_": from_, "status_callback": self.status_callback}
        bodies: list[str] = []
        if message.content_sid:
            kwargs["content_sid"] = message.content_sid
            if message.content_variables:
                kwargs["content_variables"] = json.dumps(message.content_variables, ensure_ascii=False)
        else:
            bodies = split_text(format_options(message.text, message.buttons, channel), MAX_BODY)
        media_url = message.media_url
        if media_url is None and message.media_path and channel == "whatsapp":
            media_url = media_link(self.settings, message.media_path)  # Twilio fetches it from us
        if media_url:
            kwargs["media_url"] = [media_url]
        sid = None
        try:
            if not bodies:
                sid = self.client.messages.create(**kwargs).sid
            for i, body in enumerate(bodies):
                extra = kwargs if i == 0 else {k: v for k, v in kwargs.items() if k != "media_url"}
                sid = self.client.messages.create(body=body, **extra).sid
        except TwilioRestException as exc:
            raise _send_error(exc) from exc
        except requests.RequestException as exc:  # timeouts, refused connections, resets
            raise TransientSendError(f"Twilio unreachable: {type(exc).__name__}") from exc
        return SendReceipt(provider_message_id=sid, status="sent")


def _send_error(exc: TwilioRestException) -> Exception:
    if exc.status == 429 or exc.code == 20429:
        return TransientSendError("Twilio rate limit", retry_after=1.0)
    if exc.status >= 500:
        return TransientSendError(f"Twilio server error {exc.status}")
    if exc.code == OUTSIDE_WINDOW:
        return PermanentSendError("WhatsApp 24 h window closed", code=OUTSIDE_WINDOW, unreachable=False)
    if exc.code in UNREACHABLE_CODES:
        return PermanentSendError(f"Twilio: number unreachable ({exc.code})", code=exc.code, unreachable=True)
    return PermanentSendError(f"Twilio refused ({exc.status}, {exc.code})", code=exc.code or exc.status,
                              unreachable=False)


def _media_kind(content_type: str | None) -> str:
    major = (content_type or "").split("/", 1)[0]
    return {"audio": "voice", "video": "video"}.get(major, "document")


class TwilioSender:
    """The ``Sender`` for one of the account's channels (the dispatcher keys senders by channel)."""

    def __init__(self, channel_obj: TwilioChannel, channel: str) -> None:
        self.channel_obj = channel_obj
        self.channel = channel
        self.capabilities = CAPABILITIES[channel]

    def send(self, message: OutboundMessage) -> SendReceipt:
        return self.channel_obj.send(self.channel, message)
