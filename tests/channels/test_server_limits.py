"""The web server limits of ``reporta serve`` (issue 14, item 5), on the real uvicorn configuration from
``reporta.server`` over raw sockets: big headers, many headers, half-open and slow-loris connections, idle
keep-alive, and the concurrency cap. ``/healthz`` keeps answering throughout."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from reporta import server
from reporta.settings import Settings
from tests.channels.conftest import free_port


def _app() -> Starlette:
    async def ok(request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/healthz", ok), Route("/media/{name:path}", ok)])


class Served:
    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(server.config(_app(), settings, host="127.0.0.1", port=self.port))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def healthz(self) -> float:
        started = time.monotonic()
        assert httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=5).status_code == 200
        return time.monotonic() - started


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    settings = Settings(_env_file=None, var_dir=tmp_path, server_request_seconds=1.0, server_keep_alive_seconds=1,
                        server_max_connections=20, log_level="warning")
    with Served(settings) as s:
        yield s


def _closed_within(sock: socket.socket, seconds: float) -> bytes:
    """Read until the server closes the connection; fail if it takes longer than ``seconds``."""
    sock.settimeout(seconds)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for more than {seconds} s")
    except ConnectionResetError:
        pass
    return data


def test_a_huge_header_is_refused_at_16_kib(served: Served) -> None:
    sock = served.connect()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    try:
        for _ in range(64 * 16):  # up to 64 MB; the server must hang up long before
            sock.sendall(b"a" * 65536)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert sent < 4 * 1024 * 1024, f"{sent} bytes of header were accepted"
    assert served.healthz() < 0.5
    sock.close()


def test_too_many_headers_get_431(served: Served) -> None:
    headers = {f"x-h{i}": "1" for i in range(150)}
    assert httpx.get(f"http://127.0.0.1:{served.port}/healthz", headers=headers).status_code == 431
    few = {f"x-h{i}": "1" for i in range(20)}
    assert httpx.get(f"http://127.0.0.1:{served.port}/healthz", headers=few).status_code == 200
    # 20 KiB in one header, sent in one write (h11 sees a complete head at once): refused too
    assert httpx.get(f"http://127.0.0.1:{served.port}/healthz", headers={"x-big": "a" * 20_000}).status_code in (
        400, 431)


def test_half_open_connections_are_closed(served: Served) -> None:
    socks = [served.connect() for _ in range(10)]  # connect and say nothing
    started = time.monotonic()
    for s in socks:
        _closed_within(s, 3.0)
        s.close()
    assert time.monotonic() - started < 3.0


def test_slow_loris_is_cut_off(served: Served) -> None:
    sock = served.connect()
    started = time.monotonic()
    closed = False
    for ch in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: abcdefghijklmnop":
        try:
            sock.sendall(bytes([ch]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        time.sleep(0.1)
        if time.monotonic() - started > 3:
            break
    if not closed:
        _closed_within(sock, 2.0)
    assert time.monotonic() - started < 3.5
    sock.close()


def test_idle_keep_alive_connections_are_closed(served: Served) -> None:
    sock = served.connect()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    data = _closed_within(sock, 3.0)
    assert data.startswith(b"HTTP/1.1 200")
    sock.close()


def test_past_the_connection_cap_requests_get_503(served: Served) -> None:
    hold = [served.connect() for _ in range(25)]
    time.sleep(0.2)
    try:
        status = httpx.get(f"http://127.0.0.1:{served.port}/healthz", timeout=5).status_code
    finally:
        for s in hold:
            s.close()
    assert status == 503
    time.sleep(0.3)
    assert served.healthz() < 1.0


def test_the_access_log_never_shows_a_media_signature(served: Served) -> None:
    import io
    import logging

    access = logging.getLogger("uvicorn.access")
    access.setLevel(logging.INFO)
    out = io.StringIO()
    handlers = [h for h in access.handlers if type(h) is logging.StreamHandler]
    assert handlers and all(any(type(f).__name__ == "RedactFilter" for f in h.filters) for h in handlers)
    for handler in handlers:  # the handlers reporta.server configured (uvicorn's, with the redaction filter)
        handler.setStream(out)
    httpx.get(f"http://127.0.0.1:{served.port}/media/ab/abcdef.jpg?exp=1999999999&sig=c2VjcmV0LXNpZ25hdHVyZQ")
    time.sleep(0.2)
    text = out.getvalue()
    assert '"GET /media/ab/abcdef.jpg?[redacted] HTTP/1.1" 200' in text
    assert "c2VjcmV0LXNpZ25hdHVyZQ" not in text


def test_reporta_serve_runs_with_these_limits(tmp_path, nlu_cache) -> None:
    """The real ``reporta serve`` command (not only ``reporta.server``): a 20 KiB header is refused and a
    half-open connection closed after ``REPORTA_SERVER_REQUEST_SECONDS``."""
    import os
    import subprocess
    import sys

    from reporta.settings import REPO_ROOT

    port = free_port()
    env = dict(os.environ, REPORTA_DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}", REPORTA_VAR_DIR=str(tmp_path),
               REPORTA_NLU_CACHE_DIR=str(nlu_cache), REPORTA_SCHEDULER_ENABLED="false", REPORTA_LOG_LEVEL="WARNING",
               REPORTA_SERVER_REQUEST_SECONDS="1")
    server = subprocess.Popen([sys.executable, "-m", "reporta.cli", "serve", "--port", str(port), "--processors",
                               "0"], env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "reporta serve did not start"
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"x-big": "a" * 20_000}).status_code in (400, 431)
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        started = time.monotonic()
        _closed_within(sock, 4.0)
        assert time.monotonic() - started < 4.0
        sock.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
