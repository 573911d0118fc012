"""One TLS context for every httpx client of a process (the Telegram Bot API, media downloads).

Building a context reads the whole CA bundle (≈ 50 ms of CPU each); the Telegram channel alone has three clients,
and every runtime (a process start, a test) builds the channel again. The context is the one httpx builds by itself
(`httpx.create_ssl_context()`: certifi's bundle or `SSL_CERT_FILE`, hostname checks on); sharing it is safe across
threads and event loops.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def client_tls() -> ssl.SSLContext:
    """The process's TLS context for outgoing HTTPS (built once)."""
    return httpx.create_ssl_context()
