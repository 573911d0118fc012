"""Dialogue benchmark (a script, not a test): scripted citizen conversations, how many end as a citizen expects.

    .venv/bin/python benchmarks/dialogue_conversations.py [--cases benchmarks/dialogue_cases.yml] [-v]

Every case of ``dialogue_cases.yml`` runs on SMS, WhatsApp and Telegram through the real ``DialogueEngine`` (real
NLU parser, real ticket service, a throw-away SQLite database): the citizen's lines, then "no tengo foto" /
"omitir" / "sí" until no report is pending. A case passes when exactly the expected reports were filed, in order,
with every expected word of the place on them. Prints the pass rate per behaviour and channel, and the failures.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from dialogue.engine import DialogueEngine  # noqa: E402
from dialogue.render import Renderer  # noqa: E402
from dialogue.text import fold  # noqa: E402
from nlu.api import load_parser  # noqa: E402
from reporta.messages import InboundMessage  # noqa: E402
from reporta.settings import Settings  # noqa: E402
from ticketing.catalog import load_catalog, sync_departments  # noqa: E402
from ticketing.citizens import get_or_create_identity  # noqa: E402
from ticketing.db import make_engine, make_session_factory, session_scope  # noqa: E402
from ticketing.migrate import upgrade  # noqa: E402
from ticketing.models import Conversation, Direction, InboundState, Message, Ticket, utcnow  # noqa: E402

CHANNELS = ("sms", "whatsapp", "telegram")
_ids = itertools.count(1)


class Citizen:
    def __init__(self, factory, engine: DialogueEngine, channel: str) -> None:
        self.factory, self.engine, self.channel = factory, engine, channel
        n = next(_ids)
        self.external_id = f"+52819{n:07d}" if channel != "telegram" else str(800000 + n)
        with session_scope(factory) as session:
            get_or_create_identity(session, channel, self.external_id).citizen.consent_at = utcnow()

    def send(self, text: str) -> None:
        with session_scope(self.factory) as session:
            identity = get_or_create_identity(session, self.channel, self.external_id)
            inbound = InboundMessage(channel=self.channel, external_id=self.external_id,
                                     provider_message_id=f"b{next(_ids)}", text=text, received_at=utcnow())
            message = Message(direction=Direction.INBOUND, channel=self.channel, identity_id=identity.id,
                              provider_message_id=inbound.provider_message_id, kind="text", text=text, payload={},
                              state=InboundState.RECEIVED, created_at=utcnow())
            session.add(message)
            session.flush()
            self.engine.handle(session, message, inbound, identity)
            message.state = InboundState.PROCESSED

    def conversation(self) -> Conversation:
        with self.factory() as session:
            identity = get_or_create_identity(session, self.channel, self.external_id)
            return session.scalars(select(Conversation).where(Conversation.identity_id == identity.id)).one()

    def tickets(self) -> list[Ticket]:
        with self.factory() as session:
            identity = get_or_create_identity(session, self.channel, self.external_id)
            return list(session.scalars(select(Ticket).where(Ticket.reporter_identity_id == identity.id)
                                        .order_by(Ticket.id)))

    def finish(self) -> None:
        for _ in range(10):
            conv = self.conversation()
            if conv.flow != "report":
                return
            answer = {"photo": "no tengo foto", "description": "omitir", "confirm": "sí"}.get(conv.step or "")
            if answer is None:
                return
            self.send(answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=ROOT / "benchmarks" / "dialogue_cases.yml")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every failure")
    args = parser.parse_args()
    cases = yaml.safe_load(args.cases.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        settings = Settings(_env_file=None, database_url=url, var_dir=Path(tmp) / "var",
                            nlu_cache_dir=Path(tmp) / "nlu")
        catalog = load_catalog(settings.catalog_path)
        db = make_engine(url)
        factory = make_session_factory(db)
        with session_scope(factory) as session:
            sync_departments(session, catalog)
        engine = DialogueEngine(settings=settings, catalog=catalog, parser=load_parser(settings),
                                renderer=Renderer(settings.templates_dir))
        results: dict[tuple[str, str], list[bool]] = defaultdict(list)
        failures = []
        started = time.perf_counter()
        turns = 0
        for case in cases:
            for channel in CHANNELS:
                citizen = Citizen(factory, engine, channel)
                for line in case["lines"]:
                    citizen.send(line)
                    turns += 1
                citizen.finish()
                tickets = citizen.tickets()
                places = " | ".join(" ".join(p for p in (t.address, t.landmark) if p) for t in tickets)
                ok = [t.category_code for t in tickets] == case["reports"] and all(
                    fold(w) in fold(places) for w in case.get("place") or [])
                results[(case["behaviour"], channel)].append(ok)
                if not ok:
                    failures.append((channel, case, [t.category_code for t in tickets], places))
        elapsed = time.perf_counter() - started
        db.dispose()
    behaviours = sorted({b for b, _ in results})
    print(f"{'behaviour':<26}" + "".join(f"{c:>12}" for c in CHANNELS) + f"{'all':>12}")
    total_ok = total = 0
    for behaviour in behaviours:
        row = f"{behaviour:<26}"
        passed = count = 0
        for channel in CHANNELS:
            got = results[(behaviour, channel)]
            passed, count = passed + sum(got), count + len(got)
            row += f"{sum(got):>7}/{len(got):<4}"
        total_ok, total = total_ok + passed, total + count
        print(row + f"{100 * passed / count:>10.1f} %")
    print(f"{'all':<26}{'':>36}{100 * total_ok / total:>10.1f} %  ({total_ok}/{total} conversations, "
          f"{elapsed:.1f} s, {1000 * elapsed / max(turns, 1):.1f} ms per scripted line)")
    for channel, case, got, places in failures if args.verbose else failures[:10]:
        print(f"FAIL {channel}: {case['lines']} -> {got} [{places}] expected {case['reports']} {case.get('place')}")


if __name__ == "__main__":
    main()
