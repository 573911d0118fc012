"""Telegram, with python-telegram-bot v22: webhook secret check, Update → ``InboundMessage``, media download
(``get_file`` then a size-limited stream), sending through PTB's ``ExtBot`` with its ``AIORateLimiter``, and
long polling for development (``reporta serve --telegram-polling``).

``REPORTA_TELEGRAM_API_BASE_URL`` replaces ``https://api.telegram.org`` (tests point it at a fake server).
PTB objects stay in this module: callers see ``InboundMessage``, ``SendReceipt`` and ``Send*Error`` only.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram import Message as TgMessage
from telegram.error import BadRequest as TgBadRequest
from telegram.error import Forbidden as TgForbidden
from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from bot.aio import LoopThread
from bot.channel import CAPABILITIES, BadRequest, Download, Forbidden, Unusable
from bot.edge import MAX_NAME, as_int, as_size, bounded, clean_str, clean_tree
from bot.tls import client_tls
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
from ticketing.models import utcnow

log = logging.getLogger(__name__)
# httpx logs every request URL at INFO, and Bot API URLs contain the bot token: keep those out of the logs.
logging.getLogger("httpx").setLevel(logging.WARNING)

MAX_TEXT = 4096
MAX_CAPTION = 1024
CALLBACK_DATA_MAX = 64  # bytes, Telegram's limit
MAX_INBOUND_TEXT = 4096  # longer texts are cut at the edge (bot.edge)


def _retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that ``retry_after`` will become a timedelta
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def split_text(text: str, limit: int) -> list[str]:
    """Split a long text at paragraph or line breaks (words as a last resort) into pieces of at most ``limit``."""
    text = text or ""
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit))
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


class TelegramChannel:
    """The Telegram channel: one ``ExtBot`` living on a background event loop."""

    name = "telegram"
    capabilities = CAPABILITIES["telegram"]

    def __init__(self, settings: Settings, *, location_button_label: str = "Enviar mi ubicación",
                 send_timeout: float = 15.0) -> None:
        if not settings.telegram_token:
            raise ValueError("REPORTA_TELEGRAM_TOKEN is not set")
        self.settings = settings
        self.secret = settings.telegram_webhook_secret
        if not self.secret:
            log.warning("REPORTA_TELEGRAM_WEBHOOK_SECRET is not set: /webhooks/telegram refuses every update "
                        "(403) until it is; long polling (reporta serve --telegram-polling) still works")
        self.location_button_label = location_button_label
        self.send_timeout = send_timeout
        base = settings.telegram_api_base_url.rstrip("/")
        self._file_base = f"{base}/file/bot"
        self._loop = LoopThread("reporta-telegram")
        self._bot: ExtBot = self._loop.run(self._make_bot(settings.telegram_token, base))
        # Files come from the configured Bot API host only: no redirects, a short read timeout (the pipeline puts
        # a total deadline on each file).
        self._http = httpx.Client(timeout=httpx.Timeout(5.0, connect=5.0), follow_redirects=False, verify=client_tls())
        self.sender = self  # ``send`` lives here: the outbox dispatcher calls ``channel.sender.send``

    async def _make_bot(self, token: str, base: str) -> ExtBot:
        tls = {"verify": client_tls()}
        request = HTTPXRequest(connection_pool_size=16, read_timeout=10.0, write_timeout=10.0,
                               connect_timeout=5.0, pool_timeout=5.0, httpx_kwargs=tls)
        bot = ExtBot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot", request=request,
                     get_updates_request=HTTPXRequest(connection_pool_size=1, read_timeout=40.0, httpx_kwargs=tls),
                     rate_limiter=AIORateLimiter(overall_max_rate=self.settings.telegram_messages_per_second))
        # No ``initialize()`` (it calls getMe): start-up must work while Telegram is unreachable.
        return bot

    def close(self) -> None:
        with contextlib.suppress(Exception):  # best effort on shutdown
            self._loop.run(self._bot.request.shutdown(), timeout=5)
        self._loop.stop()
        self._http.close()

    # --- inbound ----------------------------------------------------------------------------------

    def check_secret(self, header_value: str | None) -> None:
        """``X-Telegram-Bot-Api-Secret-Token`` must equal ``REPORTA_TELEGRAM_WEBHOOK_SECRET`` when one is set."""
        if self.secret and not hmac.compare_digest((header_value or "").encode(), self.secret.encode()):
            raise Forbidden("bad Telegram secret token")

    def parse(self, payload: Any) -> list[InboundMessage]:
        """An Update → inbound messages. ``BadRequest`` (answered 400) when it is not an Update at all;
        ``Unusable`` (answered 200, so Telegram stops redelivering) when it is one we cannot use."""
        if not isinstance(payload, dict) or as_size(payload.get("update_id")) is None:
            raise BadRequest("not a Telegram Update")
        pid = str(payload["update_id"])
        try:
            cleaned = clean_tree(payload)
            update = Update.de_json(cleaned, self._bot)
            messages = self._from_update(pid, update, cleaned)
            return [bounded(m) for m in messages]
        except Exception as exc:  # PTB trusts the types it is given: KeyError/TypeError/AttributeError/...
            raise Unusable(f"telegram update {pid} unusable: {type(exc).__name__}") from exc

    def _from_update(self, pid: str, update: Update, payload: dict[str, Any]) -> list[InboundMessage]:
        if update.callback_query is not None:
            cq = update.callback_query
            chat = cq.message.chat if cq.message is not None else None
            user_id = as_int(cq.from_user.id)
            chat_id = as_int(chat.id) if chat is not None else user_id
            if chat_id is None:
                raise Unusable("callback query without a chat or user id")
            return [InboundMessage(channel="telegram", external_id=str(chat_id), provider_message_id=pid,
                                   button_payload=_str(cq.data), display_name=_full_name(cq.from_user),
                                   received_at=utcnow(), raw_kind="text")]
        msg = update.message
        if msg is None:
            log.info("telegram update %s ignored (kind: %s)", pid, _update_kind(payload))
            return []
        if msg.chat.type != "private":
            log.info("telegram update %s ignored (chat type %s)", pid, _str(msg.chat.type, 20))
            return []
        return [self._from_message(pid, msg)]

    def _from_message(self, pid: str, msg: TgMessage) -> InboundMessage:
        user = msg.from_user
        chat_id = as_int(msg.chat.id)
        if chat_id is None:
            raise Unusable("message without a chat id")
        common: dict[str, Any] = {
            "channel": "telegram", "external_id": str(chat_id), "provider_message_id": pid,
            "display_name": _full_name(user) if user else None,
            "received_at": msg.date if isinstance(msg.date, datetime) else None,
        }
        text = _str(msg.text) if msg.text is not None else _str(msg.caption)
        if msg.venue is not None:
            loc = msg.venue.location
            address = ", ".join(p for p in (_str(msg.venue.title), _str(msg.venue.address)) if p)
            return InboundMessage(**common, text=text, raw_kind="location",
                                  location=Location(loc.latitude, loc.longitude, address or None))
        if msg.location is not None:
            return InboundMessage(**common, text=text, raw_kind="location",
                                  location=Location(msg.location.latitude, msg.location.longitude))
        if msg.photo:
            limit = self.settings.max_media_bytes
            sizes = sorted(msg.photo, key=lambda p: ((as_size(p.width) or 0) * (as_size(p.height) or 0),
                                                     as_size(p.file_size) or 0))
            fitting = [p for p in sizes if (as_size(p.file_size) or 0) <= limit] or sizes[:1]
            best = fitting[-1]
            return InboundMessage(**common, text=text, raw_kind="photo", media=(
                Media(kind="photo", content_type="image/jpeg", file_id=_str(best.file_id),
                      size_bytes=as_size(best.file_size)),))
        if msg.document is not None:
            doc = msg.document
            mime = _str(doc.mime_type, 100)
            kind = "photo" if (mime or "").startswith("image/") else "document"
            return InboundMessage(**common, text=text, raw_kind=kind, media=(
                Media(kind=kind, content_type=mime, file_id=_str(doc.file_id), size_bytes=as_size(doc.file_size)),))
        for kind in ("voice", "audio", "video", "video_note", "sticker", "animation"):
            attachment = getattr(msg, kind, None)
            if attachment is not None:
                norm = {"video_note": "video", "animation": "video"}.get(kind, kind)
                return InboundMessage(**common, text=text, raw_kind=norm, media=(
                    Media(kind=norm, file_id=_str(attachment.file_id), size_bytes=as_size(attachment.file_size)),))
        if msg.contact is not None and user is not None and as_int(msg.contact.user_id) == as_int(user.id):
            return InboundMessage(**common, text=text, phone_e164=_str(msg.contact.phone_number, 32),
                                  raw_kind="unsupported")
        if text is None:
            return InboundMessage(**common, raw_kind="unsupported")
        return InboundMessage(**common, text=text, raw_kind="text")

    @contextmanager
    def fetch_media(self, media: Media) -> Iterator[Download]:
        """``getFile`` for the download path, then stream ``/file/bot<token>/<path>``."""
        if not media.file_id:
            raise ValueError("Telegram media without file_id")
        tg_file = self._loop.run(self._bot.get_file(media.file_id),
                                 timeout=min(self.send_timeout, self.settings.media_file_seconds))
        url = tg_file.file_path
        if not url or not url.startswith(self._file_base):
            raise ValueError("Telegram returned no file_path on the Bot API host")
        with self._http.stream("GET", url) as response:
            response.raise_for_status()
            yield Download(response.iter_bytes(), response.headers.get("content-type"),
                           as_size(tg_file.file_size))

    # --- outbound ---------------------------------------------------------------------------------

    def send(self, message: OutboundMessage) -> SendReceipt:
        try:
            sent = self._loop.run(self._send(message), timeout=self.send_timeout)
        except TimeoutError as exc:
            raise TransientSendError("Telegram send timed out") from exc
        except RetryAfter as exc:
            raise TransientSendError("Telegram flood control", retry_after=_retry_seconds(exc)) from exc
        except TgForbidden as exc:
            raise PermanentSendError(f"Telegram refused: {exc.message}", code=403, unreachable=True) from exc
        except InvalidToken as exc:
            raise PermanentSendError("Telegram rejected the bot token", code=401, unreachable=False) from exc
        except TgBadRequest as exc:
            lowered = exc.message.lower()
            unreachable = "chat not found" in lowered or "user is deactivated" in lowered
            raise PermanentSendError(f"Telegram bad request: {exc.message}", code=400,
                                     unreachable=unreachable) from exc
        except NetworkError as exc:  # timeouts, 5xx, connection errors
            raise TransientSendError(f"Telegram network error: {exc.message}") from exc
        except TelegramError as exc:
            raise TransientSendError(f"Telegram error: {exc.message}") from exc
        return SendReceipt(provider_message_id=str(sent.message_id), status="sent")

    def _markup(self, message: OutboundMessage) -> Any:
        if message.buttons:
            return InlineKeyboardMarkup([
                [InlineKeyboardButton(b.title, callback_data=b.payload.encode()[:CALLBACK_DATA_MAX].decode(
                    errors="ignore"))] for b in message.buttons
            ])
        if message.request_location:
            return ReplyKeyboardMarkup([[KeyboardButton(self.location_button_label, request_location=True)]],
                                       resize_keyboard=True, one_time_keyboard=True)
        return None

    async def _send(self, message: OutboundMessage) -> TgMessage:
        chat_id = message.external_id
        markup = self._markup(message)
        pieces = split_text(message.text, MAX_TEXT)
        last: TgMessage | None = None
        if message.media_path or message.media_url:
            caption = pieces[0] if len(pieces[0]) <= MAX_CAPTION else None
            if message.media_path:
                with open(message.media_path, "rb") as fh:
                    last = await self._bot.send_photo(chat_id, photo=fh, caption=caption,
                                                      reply_markup=markup if len(pieces) == 1 else None)
            else:
                last = await self._bot.send_photo(chat_id, photo=message.media_url, caption=caption,
                                                  reply_markup=markup if len(pieces) == 1 else None)
            if caption is not None:
                pieces = pieces[1:]
        for i, piece in enumerate(pieces):
            last = await self._bot.send_message(chat_id, piece, reply_markup=markup if i == len(pieces) - 1 else None)
        assert last is not None
        return last

    # --- development: long polling ------------------------------------------------------------------

    def poll(self, on_update: Callable[[dict[str, Any]], None], stop: threading.Event,
             poll_timeout: int = 25) -> None:
        """Fetch updates with ``getUpdates`` until ``stop`` is set; each goes to ``on_update`` as webhook JSON."""
        self._loop.run(self._bot.delete_webhook(drop_pending_updates=False), timeout=self.send_timeout)
        offset: int | None = None
        while not stop.is_set():
            try:
                updates = self._loop.run(self._bot.get_updates(offset=offset, timeout=poll_timeout),
                                         timeout=poll_timeout + 15)
            except (TelegramError, TimeoutError) as exc:
                log.warning("telegram polling failed: %s", type(exc).__name__)
                stop.wait(2)
                continue
            try:
                for update in updates:
                    on_update(update.to_dict())
                    offset = update.update_id + 1
            except Exception as exc:  # not stored (the database is away): fetch it again from ``offset``
                log.warning("telegram polling: update not stored (%s); trying again", type(exc).__name__)
                stop.wait(1)

    def set_webhook(self, url: str) -> bool:
        return self._loop.run(self._bot.set_webhook(url, secret_token=self.secret), timeout=self.send_timeout)


def _update_kind(payload: dict[str, Any]) -> str:
    kind = next((k for k in payload if k != "update_id"), "empty")
    return kind if kind.isidentifier() and len(kind) <= 40 else "unknown"


def _str(value: Any, limit: int = MAX_INBOUND_TEXT) -> str | None:
    """A string field of an Update, or None when Telegram (or a forger) put something else there."""
    return clean_str(value, limit)


def _full_name(user: Any) -> str | None:
    parts = [p for p in (_str(user.first_name, MAX_NAME), _str(user.last_name, MAX_NAME)) if p]
    return " ".join(parts)[:MAX_NAME] or None
