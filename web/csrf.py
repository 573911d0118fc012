"""CSRF tokens for state-changing forms: an HMAC of the browser session's id with the app's secret, so a token
is bound to one session and cannot be forged without the secret. Webhooks are not forms and are exempt.

``token_for(secret, session_id)`` goes into a hidden ``csrf_token`` field (or the ``X-CSRF-Token`` header for
htmx requests); ``valid(secret, session_id, token)`` checks it in constant time.
"""

from __future__ import annotations

import hashlib
import hmac

FIELD = "csrf_token"
HEADER = "x-csrf-token"


def token_for(secret: bytes, session_id: str) -> str:
    return hmac.new(secret, b"reporta-csrf:" + session_id.encode(), hashlib.sha256).hexdigest()


def valid(secret: bytes, session_id: str | None, token: str | None) -> bool:
    if not session_id or not token:
        return False
    return hmac.compare_digest(token_for(secret, session_id), token)
