"""Fetching URLs a webhook named (Twilio's ``MediaUrlN``) without becoming a proxy into our own network (SSRF).

A ``MediaUrlN`` is whatever the form says; a signed form proves Twilio (or whoever holds the auth token) sent
it, not where it points. So a URL is fetched only when:

- its scheme and host match the allowlist (``REPORTA_TWILIO_MEDIA_HOSTS``: ``host``, ``*.domain``,
  ``host:port``, ``http://host:port``; https unless an entry says http);
- the name resolves only to public addresses: loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7),
  link-local (169.254/16 — cloud metadata — and fe80::/10), CGNAT, multicast and reserved ranges are refused.
  The check runs inside the connection (``GuardedBackend.connect_tcp``) on the address actually dialled, so a
  DNS answer that changes between check and connect (rebinding) gains nothing. An entry that *is* an IP address
  (the fake provider on 127.0.0.1 in tests) is trusted as written, because an operator typed it;
- every redirect hop passes the same checks (at most ``MAX_REDIRECTS``); credentials go only to the API host.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from bot.tls import client_tls

MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Refused(Exception):
    """A URL (or an address it resolves to) that the allowlist does not permit."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class Allowlist:
    """Which (scheme, host, port) may be fetched; see the module docstring."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries: list[tuple[str, str, int | None]] = []
        for raw in entries:
            raw = raw.strip().lower()
            if not raw:
                continue
            scheme = "https"
            if "://" in raw:
                scheme, raw = raw.split("://", 1)
            raw = raw.rstrip("/")
            host, port = raw, None
            if raw.count(":") == 1:
                host, _, p = raw.partition(":")
                port = int(p)
            self.entries.append((scheme, host, port))
        self.trusted_ips = {(h, p) for _, h, p in self.entries if _is_ip(h)}

    @classmethod
    def from_settings(cls, hosts: str, *origins: str) -> Allowlist:
        return cls([*hosts.split(","), *origins])

    def check_url(self, url: str) -> None:
        """``Refused`` unless scheme, host and port match an entry (resolution is checked when connecting)."""
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:
            raise Refused("bad port") from exc
        if parts.username or parts.password:
            raise Refused("credentials in URL")
        for e_scheme, e_host, e_port in self.entries:
            if scheme != e_scheme:
                continue
            if e_port is not None and e_port != port:
                continue
            if e_port is None and port != (443 if scheme == "https" else 80):
                continue
            if host == e_host or (e_host.startswith("*.") and fnmatch.fnmatchcase(host, e_host)
                                  and host.count(".") >= e_host.count(".")):
                return
        raise Refused(f"{scheme}://{host}:{port} is not an allowed media host")

    def may_connect(self, host: str, port: int, address: str) -> bool:
        if (host.lower(), port) in self.trusted_ips or (host.lower(), None) in self.trusted_ips:
            return True
        return is_public(address)


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, resolving the name itself and dialling only addresses the allowlist permits."""

    def __init__(self, allowlist: Allowlist) -> None:
        self.allowlist = allowlist

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        refused = [a for a in addresses if not self.allowlist.may_connect(host, port, a)]
        if not addresses or refused:  # one private answer is enough to refuse the name
            raise httpcore.ConnectError(f"{host} resolves to a non-public address")
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"cannot connect to {host}")


def guarded_client(allowlist: Allowlist, *, timeout: httpx.Timeout) -> httpx.Client:
    """An httpx client that never follows redirects by itself and dials only permitted addresses."""
    transport = httpx.HTTPTransport(verify=client_tls())
    transport._pool._network_backend = GuardedBackend(allowlist)  # httpx exposes no public seam for this
    return httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)


@contextmanager
def stream(client: httpx.Client, allowlist: Allowlist, url: str, *,
           auth_for: Any = None) -> Iterator[httpx.Response]:
    """GET ``url`` through ``client``, following at most ``MAX_REDIRECTS`` redirects, each checked; ``auth_for(url)``
    gives the credentials for one hop (None: none). The response is open while the context lasts."""
    for _ in range(MAX_REDIRECTS + 1):
        allowlist.check_url(url)
        auth = auth_for(url) if auth_for is not None else None
        with client.stream("GET", url, auth=auth) as response:
            if response.status_code in REDIRECTS and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            response.raise_for_status()
            yield response
            return
    raise Refused("too many redirects")
