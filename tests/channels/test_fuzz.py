"""Fuzzed webhooks (issue 14 acceptance): 2,000 mutated Telegram Updates and 2,000 signed, mutated Twilio forms
(and 500 signed, mutated delivery receipts) through the real app, pipeline, dialogue and dispatcher, on both
databases: no answer is a 5xx, no message stays unprocessed (or fails), no media request leaves for a host off
the allowlist, and the server still answers.

Mutations start from the captured fixtures and replace, delete or add fields anywhere in the tree with values of
the wrong type, huge or negative numbers, NaN, empty/long strings, NUL, lone surrogates, deep nesting. The
random seed is fixed, so a failure is reproducible (``FUZZ_SEED`` and ``FUZZ_CASES`` change them).
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from reporta.runtime import Runtime
from tests.channels.conftest import FIXTURES, JPEG, PUBLIC_URL, TG_SECRET, TW_SID, TW_TOKEN, AppServer, fixture, settle
from tests.fakes.twilio_api import FakeTwilio
from ticketing.models import Direction, InboundState, Message

SEED = int(os.environ.get("FUZZ_SEED", "14"))
CASES = int(os.environ.get("FUZZ_CASES", "2000"))
CHATS = [100_000 + i for i in range(30)]
PHONES = [f"+5281123{i:05d}" for i in range(30)]

STRINGS = ["", " ", "a" * 5000, "hola\u0000mundo", "\u0000", "a\ud800b", "\udfff", "😀" * 50, "\u202eabc",
           "' OR 1=1 --", "{{ 7*7 }}", "%s%s%n", "\n" * 100, "1", "-1", "NaN", "null", "true", "x" * 300]
NUMBERS: list[Any] = [0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**70, 10**100, 1.5, -0.0, 1e308, float("nan"),
                      float("inf"), float("-inf"), True, False]


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.35:
        return rng.choice(STRINGS)
    if roll < 0.65:
        return rng.choice(NUMBERS)
    if roll < 0.72:
        return None
    if roll < 0.8 and depth < 3:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if roll < 0.88 and depth < 3:
        return {rng.choice(["id", "text", "file_id", "x", "location"]): _value(rng, depth + 1)}
    if roll < 0.9:
        return f"__DEEP_{rng.choice([40, 200, 5000])}__"  # nested that deep once serialised (``_serialise``)
    return rng.choice(STRINGS) + str(rng.randint(0, 10**6))


def _serialise(doc: Any) -> bytes:
    text = json.dumps(doc, ensure_ascii=True, allow_nan=True)
    return re.sub(r'"__DEEP_(\d+)__"', lambda m: "[" * int(m[1]) + '"fondo"' + "]" * int(m[1]), text).encode()


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if len(prefix) > 12:
        return out
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(rng: random.Random, doc: Any, times: int) -> Any:
    for _ in range(times):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            return _value(rng)
        path = rng.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        action = rng.random()
        if action < 0.6:
            parent[last] = _value(rng)
        elif action < 0.8 and isinstance(parent, dict):
            del parent[last]
        elif isinstance(parent, dict):
            parent[rng.choice(["caption", "venue", "photo", "document", "contact", "entities", "zzz"])] = _value(rng)
    return doc


TG_FIXTURES = sorted(p.stem for p in (FIXTURES / "telegram").glob("*.json"))


def telegram_cases(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    base = {name: fixture("telegram", name) for name in TG_FIXTURES}
    out: list[bytes] = []
    for i in range(n):
        doc = copy.deepcopy(base[rng.choice(TG_FIXTURES)])
        doc["update_id"] = 500_000 + i
        chat = rng.choice(CHATS)
        for key in ("message", "edited_message"):
            if isinstance(doc.get(key), dict):
                doc[key]["chat"] = {"id": chat, "type": "private", "first_name": "Fuzz"}
                doc[key]["from"] = {"id": chat, "is_bot": False, "first_name": "Fuzz"}
        if isinstance(doc.get("callback_query"), dict):
            doc["callback_query"]["from"] = {"id": chat, "is_bot": False, "first_name": "Fuzz"}
        doc = _mutate(rng, doc, rng.choice([1, 1, 2, 3, 6]))
        if rng.random() < 0.03:
            out.append(rng.choice([b"", b"{", b"\xff\xfe", b"[]" * 1000, b'{"update_id": 1e999}']))
            continue
        out.append(_serialise(doc))
    return out


TW_FIXTURES = ["sms_text", "whatsapp_text", "whatsapp_image", "whatsapp_location", "whatsapp_audio"]
TW_STRINGS = [s for s in STRINGS if not any(0xD800 <= ord(c) <= 0xDFFF for c in s)] + [  # a form is UTF-8
    "__DEEP_3__", "[[[[]]]]", "%00", "+" * 50]


def twilio_cases(n: int, seed: int, media: list[str], internal: str) -> list[list[tuple[str, str]]]:
    rng = random.Random(seed + 1)
    base = {name: fixture("twilio", name) for name in TW_FIXTURES}
    urls = [*media, f"{internal}/secret", "http://127.0.0.1:5432/", "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/", "file:///etc/passwd", "https://api.twilio.com.evil.example/x", "", "no es url"]
    out: list[list[tuple[str, str]]] = []
    for i in range(n):
        form = dict(base[rng.choice(TW_FIXTURES)])
        form["AccountSid"] = TW_SID
        form["MessageSid"] = f"SM{i:032d}"
        phone = rng.choice(PHONES)
        form["From"] = f"whatsapp:{phone}" if rng.random() < 0.5 else phone
        if form.get("NumMedia", "0") != "0" or rng.random() < 0.2:
            form["NumMedia"], form["MediaUrl0"] = "1", rng.choice(urls)
            form.setdefault("MediaContentType0", "image/jpeg")
        for _ in range(rng.choice([1, 1, 2, 4])):
            key = rng.choice([*form.keys(), "Latitude", "Longitude", "ButtonPayload", "NumMedia", "MediaUrl1"])
            roll = rng.random()
            if roll < 0.15 and key not in ("MessageSid",):
                form.pop(key, None)
            else:
                form[key] = rng.choice(TW_STRINGS + [str(x) for x in NUMBERS] + ["1", "10", "-5"])
        pairs = list(form.items())
        if rng.random() < 0.1:
            pairs.append(("Body", rng.choice(TW_STRINGS)))  # a repeated key, signed as such
        out.append(pairs)
    return out


def status_cases(n: int, seed: int) -> list[list[tuple[str, str]]]:
    """Mutated delivery receipts (``/webhooks/twilio/status``)."""
    rng = random.Random(seed + 2)
    base = [fixture("twilio", "status_delivered"), fixture("twilio", "status_failed_63016")]
    out = []
    for _ in range(n):
        form = dict(rng.choice(base))
        form["AccountSid"] = TW_SID
        for _ in range(rng.choice([1, 2, 3])):
            key = rng.choice([*form.keys(), "ErrorCode", "MessageStatus", "MessageSid"])
            if rng.random() < 0.15:
                form.pop(key, None)
            else:
                form[key] = rng.choice(TW_STRINGS + [str(x) for x in NUMBERS] + ["delivered", "read", "failed"])
        out.append(list(form.items()))
    return out


class _Multi(dict):
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__((k, None) for k, _ in pairs)
        self.pairs = pairs

    def getall(self, key: str) -> list[str]:
        return [v for k, v in self.pairs if k == key]


@pytest.fixture
def internal_service():
    with FakeTwilio(account_sid=TW_SID, auth_token="x") as srv:
        yield srv


def test_fuzzed_webhooks(app: AppServer, runtime: Runtime, fake_twilio: FakeTwilio,
                         internal_service: FakeTwilio) -> None:
    started = time.monotonic()
    media = [fake_twilio.add_media(JPEG), fake_twilio.add_media(b"%PDF-1.4 no image", "application/pdf")]
    tg = telegram_cases(CASES, SEED)
    tw = twilio_cases(CASES, SEED, media, internal_service.base_url)
    validator = RequestValidator(TW_TOKEN)
    url = PUBLIC_URL + "/webhooks/twilio"
    tg_headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "Content-Type": "application/json"}

    def post_tg(body: bytes) -> int:
        return app.client.post("/webhooks/telegram", content=body, headers=tg_headers).status_code

    def post_tw(pairs: list[tuple[str, str]]) -> int:
        sig = validator.compute_signature(url, _Multi(pairs))
        return app.client.post("/webhooks/twilio", content=urlencode(pairs).encode(), headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig}).status_code

    status_url = PUBLIC_URL + "/webhooks/twilio/status"
    receipts = status_cases(CASES // 4, SEED)

    def post_status(pairs: list[tuple[str, str]]) -> int:
        sig = validator.compute_signature(status_url, _Multi(pairs))
        return app.client.post("/webhooks/twilio/status", content=urlencode(pairs).encode(), headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig}).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = Counter(pool.map(post_tg, tg)) + Counter(pool.map(post_tw, tw))
        receipt_statuses = Counter(pool.map(post_status, receipts))
    assert [s for s in receipt_statuses if s >= 500] == [], receipt_statuses
    posted = time.monotonic() - started
    assert sum(statuses.values()) == 2 * CASES
    assert [s for s in statuses if s >= 500] == [], statuses
    settle(runtime, timeout=90)
    with runtime.session_factory() as s:
        states = dict(s.execute(select(Message.state, func.count()).where(Message.direction == Direction.INBOUND)
                                .group_by(Message.state)).all())
    assert set(states) <= {InboundState.PROCESSED}, states  # none received (stuck), none failed
    assert states.get(InboundState.PROCESSED, 0) > CASES // 2  # most mutations are still messages
    assert internal_service.calls() == []
    assert app.client.get("/healthz").status_code == 200
    print(f"fuzz: {2 * CASES} posts (+{len(receipts)} receipts: {dict(receipt_statuses)}) in {posted:.1f} s, "
          f"answers {dict(statuses)}, stored and processed "
          f"{states.get(InboundState.PROCESSED, 0)}, total {time.monotonic() - started:.1f} s")
