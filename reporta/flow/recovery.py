"""Recovering what was left behind, and the pass of a processing process (``reporta process``)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.downloads import DOWNLOADABLE
from reporta.flow.batch import Ready
from reporta.flow.failures import log_failure
from ticketing.models import Direction, InboundState, Message, utcnow

log = logging.getLogger(__name__)


class Recovery:
    """Recovery of ``Pipeline``: ``received`` messages left behind (a crash, a lost wake-up) are processed at
    start-up and every ``recover_interval`` seconds; ``process_pending`` is one pass of a processing process
    over the citizens routed to it."""

    session_factory: sessionmaker[Session]
    batch_size: int
    recover_interval: float
    recover_age: float
    _stop: threading.Event
    _threads_lock: threading.Lock
    _queued: Counter[int]
    _failures: dict[int, int]
    _retry_after: dict[int, float]

    _process_ready: Callable[..., int]  # BatchProcessing._process_ready

    def _recover_loop(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                self.recover(older_than=0.0 if first else self.recover_age)
            except Exception as exc:
                log_failure("inbound recovery pass failed", exc)
            first = False
            self._stop.wait(self.recover_interval)

    def recover(self, older_than: float | None = None) -> int:
        """Process ``received`` messages older than ``older_than`` seconds; return how many."""
        age = self.recover_age if older_than is None else older_than
        cutoff = utcnow() - timedelta(seconds=age)
        with self.session_factory() as session:
            rows = session.execute(
                select(Message.identity_id).where(
                    Message.direction == Direction.INBOUND, Message.state == InboundState.RECEIVED,
                    Message.created_at <= cutoff, Message.identity_id.is_not(None))
                .order_by(Message.id).limit(5000)).scalars().all()
        # Citizens already queued in this process are left to its processing threads; on PostgreSQL, citizens
        # another process is handling (identity locked) are skipped too: a later pass finds what is left.
        with self._threads_lock:
            order = [i for i in dict.fromkeys(rows) if i not in self._queued]
        done = 0
        for start in range(0, len(order), self.batch_size):
            if self._stop.is_set():
                break
            chunk = order[start:start + self.batch_size]
            try:
                done += self._process_ready([Ready(0, i, True) for i in chunk], skip_locked=True)
            except Exception as exc:
                log_failure("recovering inbound messages failed; they stay queued", exc)
                if isinstance(exc, OperationalError):
                    break
        if done:
            log.info("recovered %d inbound message(s)", done)
        return done

    def process_pending(self, index: int = 0, count: int = 1, *, limit: int = 512) -> int:
        """One pass of a processing process: handle the ``received`` messages of the citizens routed to it
        (``identity_id % count == index``), oldest first, in batches of ``batch_size`` citizens; return how
        many were handled. Only this process takes these citizens, so processes never wait on each other's
        identity locks and each citizen's order is kept. A citizen whose message just failed is retried
        after ``recover_age`` seconds (until ``max_attempts``, then the message is ``failed``)."""
        stmt = (select(Message.identity_id, Message.kind).where(
            Message.direction == Direction.INBOUND, Message.state == InboundState.RECEIVED,
            Message.identity_id.is_not(None)).order_by(Message.id).limit(limit))
        if count > 1:
            stmt = stmt.where(Message.identity_id % count == index)
        with self.session_factory() as session:
            rows = session.execute(stmt).all()
        now = time.monotonic()
        for identity_id, at in list(self._retry_after.items()):
            if at <= now:
                self._retry_after.pop(identity_id, None)
        order: dict[int, bool] = {}
        for identity_id, kind in rows:
            if identity_id in self._retry_after:
                continue
            order[identity_id] = order.get(identity_id, False) or kind in DOWNLOADABLE
        ids = list(order)
        done = 0
        # Behind (a backlog): bigger transactions, so the per-transaction costs (locks, the pending and
        # conversation reads, the commit) are paid once for more messages and the backlog drains faster.
        size = self.batch_size if len(ids) <= 2 * self.batch_size else 4 * self.batch_size
        for start in range(0, len(ids), size):
            if self._stop.is_set():
                break
            chunk = ids[start:start + size]
            try:
                done += self._process_ready([Ready(0, i, order[i]) for i in chunk])
            except Exception as exc:
                if isinstance(exc, OperationalError):
                    raise  # the database is away: the caller logs once and retries
                log_failure(f"processing a batch of {len(chunk)} citizen(s) failed; they stay queued", exc)
                for i in chunk:
                    self._retry_after[i] = time.monotonic() + self.recover_age
            if self._failures:
                # a message of this chunk failed and stays received: leave its citizen alone for a while
                with self.session_factory() as session:
                    stuck = session.scalars(select(Message.identity_id).where(
                        Message.id.in_(list(self._failures)))).all()
                for i in stuck:
                    if i in order:
                        self._retry_after[i] = time.monotonic() + self.recover_age
        return done
