"""The APScheduler worker: jobs run on their interval and the dispatcher loop sends what they enqueue."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from notifications.dispatcher import Dispatcher
from notifications.worker import Worker
from tests.notifications.conftest import RecordingSender, add_identity, new_ticket
from ticketing.citizens import record_consent
from ticketing.models import Ticket


def test_worker_runs_jobs_and_dispatches_then_stops(env) -> None:
    settings = env.settings.model_copy(update={"quiet_hours_start": "00:00", "quiet_hours_end": "00:00"})
    with env.session_factory() as s:
        ident = add_identity(s, "telegram", "3001")
        record_consent(ident.citizen)
        ticket = new_ticket(env, s, ident)
        env.service(s).change_status(ticket, "resolved", actor="staff:ana")
        ticket.survey_due_at = datetime.now(UTC) - timedelta(minutes=1)
        s.commit()
    sender = RecordingSender()
    runtime = SimpleNamespace(settings=settings, session_factory=env.session_factory, renderer=env.renderer,
                              catalog=env.catalog, senders={"telegram": sender}, ticket_service=env.service,
                              dispatcher=Dispatcher(env.session_factory, {"telegram": sender}, settings,
                                                    rate_limits=False))
    worker = Worker(runtime, job_interval_seconds=0.5)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(m.kind == "survey" for m in sender.sent):
            time.sleep(0.05)
    finally:
        worker.stop()
        runtime.dispatcher.close()
    assert [m.kind for m in sender.sent] == ["status_resolved", "survey"]
    with env.session_factory() as s:
        assert s.get(Ticket, ticket.id).survey_sent_at is not None
    assert not worker.scheduler.running
