"""A fake Telegram Bot API on 127.0.0.1 speaking the real HTTP API, for offline end-to-end and fault tests.

Paths: ``/bot<token>/<method>`` (sendMessage, sendPhoto, getFile, getMe, getUpdates, setWebhook,
deleteWebhook, answerCallbackQuery…) and ``/file/bot<token>/<file_path>``. Usage::

    with FakeTelegram(token="123:ABC") as tg:            # tg.base_url -> REPORTA_TELEGRAM_API_BASE_URL
        file_id = tg.add_file(jpeg_bytes)               # then send an Update whose photo has this file_id
        tg.fail("429", match="sendMessage", retry_after=1)   # or "500", "403" (bot blocked), "hang"
        tg.wait_for("sendMessage", count=1)             # -> [Recorded(params={"chat_id": "42", "text": …})]
        tg.sent_texts(chat_id=42)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import uuid
from typing import Any

from tests.fakes.base import FakeServer, Fault, Recorded, json_response


class FakeTelegram(FakeServer):
    def __init__(self, token: str = "123456:TEST-TOKEN") -> None:
        super().__init__()
        self.token = token
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self.updates: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {}
        self._ids = itertools.count(1000)
        self._updates_cond = threading.Condition()

    # --- set-up helpers -------------------------------------------------------------------------------

    def add_file(self, data: bytes, file_path: str | None = None, file_id: str | None = None) -> str:
        """Make ``data`` downloadable: getFile(file_id) → file_path, GET /file/bot<token>/<file_path>."""
        file_id = file_id or f"AgAC{uuid.uuid4().hex}"
        self.files[file_id] = (file_path or f"photos/file_{len(self.files)}.jpg", data)
        return file_id

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an Update for ``getUpdates`` (long polling)."""
        with self._updates_cond:
            self.updates.append(update)
            self._updates_cond.notify_all()

    def sent_texts(self, chat_id: int | str | None = None) -> list[str]:
        return [r.params.get("text", "") for r in self.calls("sendMessage")
                if r.status == 200 and (chat_id is None or str(r.params.get("chat_id")) == str(chat_id))]

    # --- server -------------------------------------------------------------------------------------

    def api_method_of(self, path: str) -> str:
        if path.startswith("/file/bot"):
            return "file"
        return path.rsplit("/", 1)[-1]

    def faultable(self, api_method: str) -> bool:
        return api_method not in ("getUpdates",)

    def fault_response(self, fault: Fault) -> tuple[int, dict[str, str], bytes]:
        if fault.kind == "429":
            return json_response(429, {"ok": False, "error_code": 429,
                                       "description": f"Too Many Requests: retry after {fault.retry_after}",
                                       "parameters": {"retry_after": fault.retry_after}})
        if fault.kind == "403":
            return json_response(403, {"ok": False, "error_code": 403,
                                       "description": "Forbidden: bot was blocked by the user"})
        if fault.kind == "500":
            return json_response(500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
        return json_response(fault.status, {"ok": False, "error_code": fault.status,
                                            "description": fault.message or "Bad Request: error"})

    def handle(self, method: str, path: str, params: dict[str, Any], files: dict[str, bytes],
               rec: Recorded) -> tuple[int, dict[str, str], bytes]:
        if path.startswith("/file/bot"):
            token, _, file_path = path[len("/file/bot"):].partition("/")
            if token != self.token:
                return 401, {}, b"Unauthorized"
            for fpath, data in self.files.values():
                if fpath == file_path:
                    return 200, {"Content-Type": "application/octet-stream"}, data
            return 404, {}, b"Not Found"
        if not path.startswith("/bot"):
            return json_response(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        token, _, api = path[len("/bot"):].partition("/")
        if token != self.token:
            return json_response(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        rec.files = files
        handler = getattr(self, f"_api_{api}", None)
        if handler is None:
            return json_response(404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"})
        result = handler(params)
        if isinstance(result, tuple):
            return result
        return json_response(200, {"ok": True, "result": result})

    # --- Bot API methods ----------------------------------------------------------------------------

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(chat_id)  # type: ignore[arg-type]
        return {"message_id": next(self._ids), "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"}, **extra}

    def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"id": int(self.token.split(":")[0]) if self.token.split(":")[0].isdigit() else 1,
                "is_bot": True, "first_name": "Reporta", "username": "reporta_test_bot"}

    def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        if not params.get("chat_id") or not params.get("text"):
            return json_response(400, {"ok": False, "error_code": 400,
                                       "description": "Bad Request: message text is empty"})
        return self._message(params, text=params["text"])

    def _api_sendPhoto(self, params: dict[str, Any]) -> Any:
        photo = [{"file_id": "AgACsent", "file_unique_id": "sent", "width": 320, "height": 240}]
        caption = {"caption": params["caption"]} if params.get("caption") else {}
        return self._message(params, photo=photo, **caption)

    def _api_getFile(self, params: dict[str, Any]) -> Any:
        file_id = params.get("file_id", "")
        if file_id not in self.files:
            return json_response(400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"})
        fpath, data = self.files[file_id]
        return {"file_id": file_id, "file_unique_id": file_id[-8:], "file_size": len(data), "file_path": fpath}

    def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = dict(params)
        return True

    def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {}
        return True

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        return True

    def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), 1.0)
        deadline = time.monotonic() + wait
        with self._updates_cond:
            while True:
                ready = [u for u in self.updates if u["update_id"] >= offset]
                left = deadline - time.monotonic()
                if ready or left <= 0 or self._stopping.is_set():
                    return ready
                self._updates_cond.wait(left)


def reply_markup(rec: Recorded) -> dict[str, Any] | None:
    """The decoded ``reply_markup`` of a recorded send (PTB posts it as a JSON string)."""
    raw = rec.params.get("reply_markup")
    return json.loads(raw) if isinstance(raw, str) else raw
