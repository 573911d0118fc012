"""A fake Twilio REST API on 127.0.0.1 speaking the real HTTP API, for offline end-to-end and fault tests.

``POST /2010-04-01/Accounts/<sid>/Messages.json`` (HTTP Basic auth ``<sid>:<token>`` checked) answers a
Message resource with a fresh ``SM…`` sid; ``GET /2010-04-01/Accounts/<sid>/Messages/<MM>/Media/<ME>``
serves media registered with ``add_media`` (Basic auth checked too). Usage::

    with FakeTwilio(account_sid="AC…", auth_token="…") as tw:   # tw.base_url -> REPORTA_TWILIO_API_BASE_URL
        url = tw.add_media(jpeg_bytes, "image/jpeg")       # a MediaUrl0 for an inbound form post
        tw.fail("500"); tw.fail("429"); tw.fail("hang")
        tw.fail("error", code=21211, status=400)           # invalid number; 63016 = outside WhatsApp window
        tw.wait_for("Messages.json", count=1)              # -> [Recorded(params={"To":…, "From":…, "Body":…})]
"""

from __future__ import annotations

import base64
import itertools
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from tests.fakes.base import Drip, FakeServer, Fault, Recorded, json_response


class FakeTwilio(FakeServer):
    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "test-auth-token") -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.media: dict[str, tuple[str, bytes]] = {}  # path -> (content type, bytes)
        self.redirects: dict[str, str] = {}  # path -> Location
        self.drips: dict[str, float] = {}  # path -> seconds per byte
        self._n = itertools.count(1)

    # --- set-up helpers -------------------------------------------------------------------------------

    def add_media(self, data: bytes, content_type: str = "image/jpeg", *, redirect_to: str | None = None,
                  drip_seconds: float = 0.0) -> str:
        """Serve ``data`` at a Twilio-style media URL (Basic auth required); return the URL. ``redirect_to``:
        answer 307 with that Location instead (Twilio redirects media to its CDN); ``drip_seconds``: send one
        byte every so many seconds."""
        path = (f"/2010-04-01/Accounts/{self.account_sid}/Messages/MM{uuid.uuid4().hex}"
                f"/Media/ME{uuid.uuid4().hex}")
        self.media[path] = (content_type, data)
        if redirect_to is not None:
            self.redirects[path] = redirect_to
        if drip_seconds:
            self.drips[path] = drip_seconds
        return self.base_url + path

    def sent(self, to: str | None = None) -> list[dict[str, Any]]:
        """The form fields of accepted Messages.json posts (optionally to one address)."""
        return [r.params for r in self.calls("Messages.json")
                if r.status == 201 and (to is None or r.params.get("To") == to)]

    # --- server -------------------------------------------------------------------------------------

    def api_method_of(self, path: str) -> str:
        if "/Media/" in path:
            return "media"
        return path.rsplit("/", 1)[-1]

    def faultable(self, api_method: str) -> bool:
        return api_method == "Messages.json"

    def _authorised(self, headers: dict[str, str]) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return headers.get("Authorization") == expected

    def _error(self, status: int, code: int | None, message: str) -> tuple[int, dict[str, str], bytes]:
        return json_response(status, {"code": code, "message": message, "status": status,
                                      "more_info": f"https://www.twilio.com/docs/errors/{code}"})

    def fault_response(self, fault: Fault) -> tuple[int, dict[str, str], bytes]:
        if fault.kind == "429":
            status, headers, body = self._error(429, 20429, "Too Many Requests")
            return status, {**headers, "Retry-After": str(fault.retry_after)}, body
        if fault.kind == "500":
            return self._error(500, 20500, "Internal Server Error")
        if fault.kind == "403":
            return self._error(403, 20003, "Permission Denied")
        return self._error(fault.status, fault.code, fault.message or f"Error {fault.code}")

    def handle(self, method: str, path: str, params: dict[str, Any], files: dict[str, bytes],
               rec: Recorded) -> tuple[int, dict[str, str], bytes]:
        if not self._authorised(rec.headers):
            return self._error(401, 20003, "Authenticate")
        if "/Media/" in path:
            if path not in self.media:
                return self._error(404, 20404, "The requested resource was not found")
            if path in self.redirects:
                return 307, {"Location": self.redirects[path]}, b""
            ctype, data = self.media[path]
            if path in self.drips:
                return 200, {"Content-Type": ctype}, Drip(data, self.drips[path])  # type: ignore[return-value]
            return 200, {"Content-Type": ctype}, data
        prefix = f"/2010-04-01/Accounts/{self.account_sid}/"
        if not path.startswith(prefix):
            return self._error(404, 20404, "The requested resource was not found")
        if path == prefix + "Messages.json" and method == "POST":
            return self._create_message(params)
        return self._error(404, 20404, "The requested resource was not found")

    def _create_message(self, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        to, from_ = params.get("To"), params.get("From")
        if not to:
            return self._error(400, 21604, "A 'To' phone number is required.")
        if not from_:
            return self._error(400, 21603, "A 'From' phone number is required.")
        if not (params.get("Body") or params.get("MediaUrl") or params.get("ContentSid")):
            return self._error(400, 21619, "A text message body or media urls must be specified.")
        sid = f"SM{uuid.uuid4().hex}"
        now = format_datetime(datetime.now(UTC), usegmt=True)
        body = params.get("Body") or ""
        resource = {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": body,
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": from_, "messaging_service_sid": None,
            "num_media": "1" if params.get("MediaUrl") else "0", "num_segments": "1", "price": None,
            "price_unit": "USD", "sid": sid, "status": "queued", "subresource_uris": {},
            "to": to, "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        next(self._n)
        return json_response(201, resource)
