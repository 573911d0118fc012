"""The inbox writer (group commit) and batched processing: idempotent on both databases, per-citizen order kept,
one citizen's failing message never holds the others of its batch back."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from notifications.outbox import enqueue, enqueue_replies
from reporta.flow.store import accept_many
from reporta.messages import InboundMessage, OutboundMessage
from reporta.runtime import Runtime
from reporta.settings import Settings
from tests.channels.conftest import wait_until
from ticketing.models import ChannelIdentity, InboundState, Message, OutboxMessage


def text(pid: str, body: str, chat: str) -> InboundMessage:
    return InboundMessage(channel="telegram", external_id=chat, provider_message_id=pid, text=body)


@pytest.fixture
def runtime(channel_settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.from_settings(channel_settings, migrate=False, dispatcher_options={"rate_limits": False})
    yield rt
    rt.close()


def count(rt: Runtime, model, *where) -> int:
    with rt.session_factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_group_insert_ignores_redeliveries_in_and_across_batches(runtime: Runtime) -> None:
    p = runtime.pipeline
    first = accept_many(p.session_factory, [text("a", "hola", "1"), text("b", "hola", "2"), text("a", "hola", "1")],
                        p.write_lock, p.identities)
    assert first[0] is not None and first[1] is not None and first[2] is None  # a redelivery inside the batch
    again = accept_many(p.session_factory, [text("b", "hola", "2"), text("c", "gracias", "1")], p.write_lock,
                        p.identities)
    assert again[0] is None and again[1] is not None
    assert p.accept(text("c", "gracias", "1")) is None
    assert count(runtime, Message) == 3
    assert count(runtime, ChannelIdentity) == 2  # found again through the cache, never created twice


def test_reply_inserts_are_idempotent(runtime: Runtime) -> None:
    mid = runtime.pipeline.accept(text("x", "hola", "9"))
    replies = [OutboundMessage(channel="telegram", external_id="9", text=t) for t in ("uno", "dos")]
    with runtime.session_factory() as s, s.begin():
        identity = s.scalars(select(ChannelIdentity)).one()
        assert enqueue_replies(s, identity, replies, in_reply_to_id=mid) == 2
        assert enqueue_replies(s, identity, replies, in_reply_to_id=mid) == 0
        row = enqueue(s, identity, replies[0], dedupe_key=f"reply:{mid}:0", in_reply_to_id=mid)
        assert row.body == "uno"  # the first row, not a new one
        fresh = enqueue(s, identity, replies[1], dedupe_key="event:1:1")
        assert enqueue(s, identity, replies[0], dedupe_key="event:1:1").id == fresh.id
    assert count(runtime, OutboxMessage) == 3


def test_concurrent_webhooks_are_stored_once_and_processed_in_order_per_citizen(runtime: Runtime) -> None:
    p = runtime.pipeline
    p.batch_size = 8
    bodies = ["hola", "quiero reportar un bache", "en Hidalgo 120", "no tengo foto", "sí", "gracias"]
    chats = [str(700 + i) for i in range(6)]
    posts = [text(f"m{c}-{i}", b, c) for i, b in enumerate(bodies) for c in chats]
    ids: list[int | None] = [None] * len(posts)

    def post(i: int) -> None:
        ids[i] = p.receive(posts[i])
        p.receive(posts[i])  # the provider redelivers every message

    # Each citizen's messages are posted in order (one thread per citizen), citizens concurrently.
    def citizen(c: str) -> None:
        for i, inbound in enumerate(posts):
            if inbound.external_id == c:
                post(i)

    threads = [threading.Thread(target=citizen, args=(c,)) for c in chats]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_until(lambda: count(runtime, Message, Message.state == InboundState.RECEIVED) == 0, timeout=60)
    assert all(ids) and len(set(ids)) == len(posts)
    with runtime.session_factory() as s:
        rows = s.execute(select(Message.id, Message.identity_id, Message.state, Message.processed_at)
                         .order_by(Message.id)).all()
        assert len(rows) == len(posts)
        assert {r.state for r in rows} == {InboundState.PROCESSED}
        for identity_id in {r.identity_id for r in rows}:
            mine = [r for r in rows if r.identity_id == identity_id]
            assert [r.processed_at for r in mine] == sorted(r.processed_at for r in mine)
            firsts = [s.scalar(select(func.min(OutboxMessage.id)).where(OutboxMessage.in_reply_to_id == r.id))
                      for r in mine]
            assert None not in firsts and firsts == sorted(firsts)
        keys = s.scalars(select(OutboxMessage.dedupe_key)).all()
        assert len(keys) == len(set(keys))


class FailsFor:
    """The real dialogue engine, raising for one chat: a poison message in a batch of citizens."""

    def __init__(self, engine, chat: str) -> None:
        self.engine, self.chat = engine, chat

    def handle(self, session, message, inbound, identity):
        replies = self.engine.handle(session, message, inbound, identity)
        if inbound.external_id == self.chat:
            raise RuntimeError("poison")
        return replies


def test_a_failing_citizen_does_not_hold_back_the_others_of_its_batch(runtime: Runtime) -> None:
    p = runtime.pipeline
    p.handler = FailsFor(runtime.dialogue, "13")
    ids = [p.accept(text(f"f{i}", "hola", chat)) for i, chat in enumerate(["12", "13", "14", "13"])]
    with runtime.session_factory() as s:
        identities = list(dict.fromkeys(s.get(Message, i).identity_id for i in ids))
    for attempt in range(p.max_attempts):
        handled = p._process_identities(identities)
        assert handled == (2 if attempt == 0 else 0)
    with runtime.session_factory() as s:
        states = [s.get(Message, i).state for i in ids]
    # the poison message is kept as failed after max_attempts; the one behind it waits (order is kept)
    assert states == [InboundState.PROCESSED, InboundState.FAILED, InboundState.PROCESSED, InboundState.RECEIVED]
    assert count(runtime, OutboxMessage, OutboxMessage.in_reply_to_id == ids[1]) == 0


def test_a_failing_turn_in_the_pipeline_rolls_back_only_its_own_changes(runtime: Runtime) -> None:
    """The engine runs in the message's savepoint (no savepoint of its own): a turn that raises (not the database)
    is rolled back with it — its writes too — and answered with error_generic; the message is processed once, the
    conversation stays where it was, the other citizens of the batch are not touched."""
    from dialogue.engine import DialogueEngine
    from ticketing.models import Conversation, Ticket

    engine: DialogueEngine = runtime.dialogue
    p = runtime.pipeline
    for chat in ("21", "22"):
        p.accept(text(f"g{chat}", "hola", chat))
    p.process_pending()

    def broken(turn):  # writes first (a ticket row, the conversation), then fails
        turn.conv.flow, turn.conv.step = "report", "confirm"
        turn.session.add(Ticket(folio="0000-0000", category_code="x", department_id=1, status="received",
                                is_open=True, description="", channel="telegram", created_at=turn.now,
                                updated_at=turn.now, due_at=turn.now, reopen_count=0))
        turn.session.flush()
        raise RuntimeError("broken flow")

    with runtime.session_factory() as s, s.begin():
        conv = s.scalars(select(Conversation).join(ChannelIdentity).where(ChannelIdentity.external_id == "21")).one()
        conv.flow, conv.step = "report", "category"
    engine._report_step = broken
    ids = [p.accept(text("h21", "un bache", "21")), p.accept(text("h22", "gracias", "22"))]
    assert p.process_pending() == 2
    with runtime.session_factory() as s:
        assert [s.get(Message, i).state for i in ids] == [InboundState.PROCESSED, InboundState.PROCESSED]
        conv = s.scalars(select(Conversation).join(ChannelIdentity).where(ChannelIdentity.external_id == "21")).one()
        assert (conv.flow, conv.step) == ("report", "category")  # where it was before the failing turn
        assert s.get(Message, ids[0]).conversation_id == conv.id
        assert s.scalar(select(func.count()).select_from(Ticket)) == 0
        failed = s.scalars(select(OutboxMessage.body).where(OutboxMessage.in_reply_to_id == ids[0])).all()
        other = s.scalars(select(OutboxMessage.body).where(OutboxMessage.in_reply_to_id == ids[1])).all()
    assert failed == [runtime.renderer.render("error_generic", "telegram")]
    assert other and failed != other


def test_a_batch_runs_without_savepoints_and_falls_back_to_them_when_a_turn_fails(runtime: Runtime) -> None:
    """The fast pass: no savepoint per message and each message's updates written together at the commit (one
    statement per reply insert, a handful per batch). A failing turn sends the batch through the careful pass."""
    from sqlalchemy import event

    p = runtime.pipeline
    chats = ("31", "32", "33", "34")
    for chat in chats:
        p.accept(text(f"s{chat}", "hola", chat))
    assert p.process_pending() == len(chats)  # first contacts: the conversations now exist
    statements: list[str] = []
    event.listen(runtime.engine, "before_cursor_execute", lambda *a: statements.append(a[2].split()[0].upper()))
    ids = [p.accept(text(f"t{chat}", "gracias", chat)) for chat in chats]
    statements.clear()
    assert p.process_pending() == len(chats)
    assert "SAVEPOINT" not in statements
    inserts = statements.count("INSERT")
    assert inserts == len(chats)  # the replies, one statement per message (their order is the send order)
    # the batch: what is pending, the identity locks, the messages, the conversations, one UPDATE per table, the
    # NOTIFY (SQLite's BEGIN IMMEDIATE aside)
    assert len(statements) - inserts - statements.count("BEGIN") <= 8, statements
    assert count(runtime, Message, Message.id.in_(ids), Message.state == InboundState.PROCESSED) == len(ids)
    assert all(count(runtime, OutboxMessage, OutboxMessage.in_reply_to_id == i) for i in ids)

    real = runtime.dialogue._dispatch

    def fails_for_33(turn) -> None:
        if turn.identity.external_id == "33":
            raise RuntimeError("broken")
        real(turn)

    runtime.dialogue._dispatch = fails_for_33  # type: ignore[method-assign]
    ids = [p.accept(text(f"u{chat}", "gracias", chat)) for chat in chats]
    statements.clear()
    assert p.process_pending() == len(chats)  # every message handled; the broken one answered error_generic
    assert "SAVEPOINT" in statements  # the careful pass ran
    assert count(runtime, Message, Message.id.in_(ids), Message.state == InboundState.PROCESSED) == len(ids)
    with runtime.session_factory() as s:
        broken = s.scalars(select(OutboxMessage.body).where(OutboxMessage.in_reply_to_id == ids[2])).all()
        fine = s.scalars(select(OutboxMessage.body).where(OutboxMessage.in_reply_to_id == ids[1])).all()
        keys = s.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.in_reply_to_id.in_(ids))).all()
    assert broken == [runtime.renderer.render("error_generic", "telegram")]
    assert fine and fine != broken
    # the rolled-back fast pass left nothing behind: the replies of the careful pass only, one set per message
    assert len(keys) == len(set(keys)) and {k.rsplit(":", 1)[0] for k in keys} == {f"reply:{i}" for i in ids}
