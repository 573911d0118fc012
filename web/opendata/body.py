"""Request bodies read with a cap: ``capped(request, limit)`` is the same request whose body stops with
``BodyTooLarge`` past ``limit`` bytes, whether or not a Content-Length was sent (chunked uploads too)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Message


class BodyTooLarge(Exception):
    """The body went past the cap; nothing after it was read."""


def capped(request: Request, limit: int) -> Request:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"{declared} bytes declared")
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise BodyTooLarge(f"more than {limit} bytes")
        return message

    return Request(request.scope, receive)
