"""The shared machinery of the fake provider servers: a real HTTP/1.1 server on 127.0.0.1 (random port, a
daemon thread), a log of every request it received, and a queue of injected faults.

Faults are consumed in order by the requests they match: ``FakeServer.fail(...)`` queues one or more.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    """One request the fake received."""

    method: str  # HTTP verb
    path: str
    api_method: str  # e.g. "sendMessage", "Messages.json", "file", "media"
    params: dict[str, Any]  # form/JSON fields (a list when a field repeats)
    files: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200  # what the fake answered
    at: float = field(default_factory=time.monotonic)


@dataclass
class Drip:
    """A response body sent ``step`` bytes every ``interval`` seconds (a slow provider)."""

    data: bytes
    interval: float = 1.0
    step: int = 1


@dataclass
class Fault:
    kind: str  # "500" | "429" | "403" | "hang" | "error"
    match: str | None = None  # api_method it applies to (None: any API call)
    retry_after: int = 1
    code: int | None = None  # provider error code for "error" (e.g. Twilio 21211, 63016)
    status: int = 400
    message: str = ""
    hang_seconds: float = 30.0


def parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Form-urlencoded, JSON or multipart bodies → (fields, files)."""
    ctype = (content_type or "").lower()
    if ctype.startswith("application/json"):
        data = json.loads(body or b"{}")
        return (data if isinstance(data, dict) else {"_": data}), {}
    if ctype.startswith("multipart/form-data"):
        msg = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        fields: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                files[name] = payload
            else:
                fields[name] = payload.decode("utf-8")
        return fields, files
    parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    return {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}, {}


class FakeServer:
    """Base of the fakes: subclasses implement ``handle(handler, method, path, params, files) -> (status, headers,
    body)`` and ``api_method_of(path)``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stopping = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                params, files = ({}, {})
                try:
                    params, files = parse_body(self.headers.get("Content-Type", ""), body)
                except Exception:
                    params = {"_raw": body.decode("latin-1")}
                if split.query:
                    params.update({k: v[0] for k, v in parse_qs(split.query).items()})
                status, headers, payload = fake._dispatch(self, self.command, split.path, params, files)
                if status == 0:  # the connection is dropped (after a hang)
                    self.close_connection = True
                    return
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                drip = payload if isinstance(payload, Drip) else None
                data = drip.data if drip is not None else payload
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if drip is None:
                    self.wfile.write(data)
                    return
                try:
                    for i in range(0, len(data), drip.step):
                        if fake._stopping.wait(drip.interval):
                            return
                        self.wfile.write(data[i:i + drip.step])
                        self.wfile.flush()
                except OSError:  # the client gave up: what a slow server sees
                    self.close_connection = True

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{type(self).__name__}-{self.port}", daemon=True)

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- faults and records -------------------------------------------------------------------------

    def fail(self, kind: str, times: int = 1, *, match: str | None = None, **kwargs: Any) -> None:
        """Queue ``times`` faults of ``kind`` ("500", "429", "403", "hang", "error") for matching API calls."""
        with self._lock:
            self.faults.extend(Fault(kind=kind, match=match, **kwargs) for _ in range(times))

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _take_fault(self, api_method: str) -> Fault | None:
        with self._lock:
            for i, f in enumerate(self.faults):
                if f.match is None or f.match == api_method:
                    return self.faults.pop(i)
        return None

    def calls(self, api_method: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if api_method is None or r.api_method == api_method]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.clear()

    def wait_for(self, api_method: str, count: int = 1, timeout: float = 5.0,
                 where: Callable[[Recorded], bool] | None = None) -> list[Recorded]:
        """Block until ``count`` successful calls of ``api_method`` (matching ``where``) arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [r for r in self.requests if r.api_method == api_method and r.status < 300
                         and (where is None or where(r))]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(found)}/{count} {api_method} calls after {timeout}s")
                self._cond.wait(left)

    def _record(self, rec: Recorded) -> None:
        with self._cond:
            self.requests.append(rec)
            self._cond.notify_all()

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str, path: str, params: dict[str, Any],
                  files: dict[str, bytes]) -> tuple[int, dict[str, str], bytes]:
        api_method = self.api_method_of(path)
        fault = self._take_fault(api_method) if self.faultable(api_method) else None
        rec = Recorded(method, path, api_method, params, files, dict(handler.headers.items()))
        if fault is not None and fault.kind == "hang":
            self._stopping.wait(fault.hang_seconds)
            rec.status = 0
            self._record(rec)
            return 0, {}, b""
        status, headers, body = self.fault_response(fault) if fault else self.handle(method, path, params, files,
                                                                                     rec)
        rec.status = status
        self._record(rec)
        return status, headers, body

    # --- to implement -----------------------------------------------------------------------------

    def api_method_of(self, path: str) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def faultable(self, api_method: str) -> bool:
        return True

    def fault_response(self, fault: Fault) -> tuple[int, dict[str, str], bytes]:  # pragma: no cover
        raise NotImplementedError

    def handle(self, method: str, path: str, params: dict[str, Any], files: dict[str, bytes],
               rec: Recorded) -> tuple[int, dict[str, str], bytes]:  # pragma: no cover - abstract
        raise NotImplementedError


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()
