"""Two worker processes against one PostgreSQL drain 10,000 queued messages through the real Telegram channel
(python-telegram-bot) to a fake Telegram API on 127.0.0.1: every message arrives exactly once, each chat's
messages in queue order, and both workers did part of the work."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict

import pytest
from sqlalchemy import func, insert, select

from reporta.settings import REPO_ROOT
from tests.fakes.telegram_api import FakeTelegram
from tests.notifications.worker_entry import TOKEN
from ticketing.db import make_engine
from ticketing.models import ChannelIdentity, ChannelKind, Citizen, OutboxMessage, OutboxStatus, utcnow

N_MESSAGES = 10_000
PER_CHAT = 5


def seed(url: str, n: int, per_chat: int) -> None:
    engine = make_engine(url)
    now = utcnow()
    chats = n // per_chat
    with engine.begin() as conn:
        conn.execute(insert(Citizen), [{"id": i + 1, "created_at": now} for i in range(chats)])
        conn.execute(insert(ChannelIdentity), [
            {"id": i + 1, "citizen_id": i + 1, "channel": ChannelKind.TELEGRAM, "external_id": str(100_000 + i),
             "last_inbound_at": now, "created_at": now} for i in range(chats)])
        conn.execute(insert(OutboxMessage), [
            {"identity_id": (k % chats) + 1, "channel": ChannelKind.TELEGRAM, "kind": "reply", "urgent": True,
             "body": f"msg-{k:05d}", "payload": {}, "status": OutboxStatus.PENDING, "attempts": 0,
             "next_attempt_at": now, "created_at": now} for k in range(n)])
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_deliver_ten_thousand_messages_exactly_once(pg_url) -> None:
    seed(pg_url, N_MESSAGES, PER_CHAT)
    with FakeTelegram(token=TOKEN) as tg:
        tg.fail("500", times=20, match="sendMessage")  # a few transient errors along the way
        procs = [subprocess.Popen([sys.executable, "-m", "tests.notifications.worker_entry", pg_url, tg.base_url,
                                   f"w{i}", "--idle", "3"], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for i in (1, 2)]
        outputs = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err[-3000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
        ok = [r for r in tg.calls("sendMessage") if r.status == 200]
    texts = [r.params["text"] for r in ok]
    counts = Counter(texts)
    assert len(counts) == N_MESSAGES, f"missing {N_MESSAGES - len(counts)}"
    assert [t for t, c in counts.items() if c > 1] == []
    by_chat: dict[str, list[str]] = defaultdict(list)
    for r in ok:
        by_chat[str(r.params["chat_id"])].append(r.params["text"])
    assert all(v == sorted(v) for v in by_chat.values()), "a chat got its messages out of order"
    assert all(o["sent"] > 0 for o in outputs), outputs  # both workers took part
    assert sum(o["sent"] for o in outputs) == N_MESSAGES
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
        assert statuses == {OutboxStatus.SENT.value: N_MESSAGES} or statuses == {OutboxStatus.SENT: N_MESSAGES}
        ids = conn.execute(select(func.count(func.distinct(OutboxMessage.provider_message_id)))).scalar()
        assert ids == N_MESSAGES
    engine.dispose()
