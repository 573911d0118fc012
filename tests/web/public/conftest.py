"""A public site with history: reports whose citizens, words and notes are full of personal data (which must
never show), enough resolved streetlight reports for its rates to be shown, and a few of everything else."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ticketing.models import ChannelIdentity, ChannelKind, Citizen, Ticket

#: Everything personal the seeded history contains; no public response may contain any of it.
PERSONAL = [
    "Juana Pérez Gómez", "Pérez Gómez", "Juana", "+528112345678", "8112345678", "81 1234 5678", "1234 5678",
    "juana.perez@example.com", "juana.perez", "987654321", "5215512345678", "Roberto Salinas", "Salinas",
    "roberto.salinas@correo.mx", "55 1234 9876", "Frente a mi casa", "la vecina del 3", "GOPJ800101HNLRRN09",
]


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@dataclass
class Seeded:
    folios: dict[str, str] = field(default_factory=dict)  # name -> folio


def _citizen(session: Any, name: str, phone: str, channel: ChannelKind, external: str) -> ChannelIdentity:
    citizen = Citizen(display_name=name, phone_e164=phone)
    session.add(citizen)
    session.flush()
    identity = ChannelIdentity(citizen_id=citizen.id, channel=channel, external_id=external)
    session.add(identity)
    session.flush()
    return identity


def seed(runtime: Any) -> Seeded:
    out = Seeded()
    now = datetime.now(UTC)
    clock = Clock(now - timedelta(days=20))
    with runtime.session_factory() as session:
        svc = runtime.ticket_service(session, now=clock)
        juana = _citizen(session, "Juana Pérez Gómez", "+528112345678", ChannelKind.TELEGRAM, "987654321")
        roberto = _citizen(session, "Roberto Salinas", "+5215512345678", ChannelKind.WHATSAPP, "+5215512345678")
        words = ("Frente a mi casa no hay luz, soy Juana Pérez Gómez, llámenme al 81 1234 5678 o escriban a "
                 "juana.perez@example.com (CURP GOPJ800101HNLRRN09)")
        # Twelve streetlights, all resolved within two days: the department page shows their rates.
        for n in range(12):
            clock.moment = now - timedelta(days=20 - n)
            t = svc.create(category="streetlight", description=words if n % 2 else "luminaria apagada",
                           lat=25.6714 + n * 0.0003, lon=-100.3094, address=f"Hidalgo {100 + n}, col. Centro",
                           landmark="casa de la vecina del 3, Juana Pérez Gómez", channel="telegram",
                           actor="citizen:1", reporter_identity=juana)
            clock.moment += timedelta(hours=20)
            svc.change_status(t, "resolved", actor="staff:ana",
                              public_note="Hablamos con Juana Pérez Gómez al 8112345678, ya quedó",
                              internal_note="chat 987654321, correo juana.perez@example.com")
            if n < 3:
                svc.close(t, actor="citizen:1", confirmation="confirmed")
                svc.set_satisfaction(t, 5 - n, actor="citizen:1")
            out.folios[f"streetlight{n}"] = t.folio
        # An open pothole on the map, reported by Roberto with his words; a staff note with his number.
        clock.moment = now - timedelta(days=3)
        pothole = svc.create(category="pothole", description="Soy Roberto Salinas, roberto.salinas@correo.mx, "
                             "55 1234 9876", lat=25.6866142, lon=-100.3161126, address="Juárez 45 Int. 3, Centro",
                             channel="whatsapp", actor="citizen:2", reporter_identity=roberto)
        svc.assign(pothole, actor="staff:ana")
        svc.change_status(pothole, "in_progress", actor="staff:ana",
                          public_note="Roberto Salinas nos mandó fotos al 55 1234 9876",
                          internal_note="WhatsApp 5215512345678")
        out.folios["pothole"] = pothole.folio
        # A water leak referred to the state utility (its reason explanation names the agency).
        leak = svc.create(category="water_leak", description=words, lat=25.70, lon=-100.30, channel="telegram",
                          actor="citizen:1", reporter_identity=juana)
        svc.change_status(leak, "not_resolved", reason="out_of_jurisdiction", actor="staff:ana",
                          public_note="Juana Pérez Gómez: 81 1234 5678")
        out.folios["leak"] = leak.folio
        # A duplicate of the pothole.
        dup = svc.create(category="pothole", description=words, lat=25.6866, lon=-100.3161, channel="telegram",
                         actor="citizen:1", reporter_identity=juana)
        svc.mark_duplicate(dup, pothole, actor="staff:ana", public_note="Juana Pérez Gómez ya lo había reportado")
        out.folios["duplicate"] = dup.folio
        session.commit()
        assert session.query(Ticket).count() == 15
    return out


@pytest.fixture
def seeded(web_runtime: Any) -> Seeded:
    return seed(web_runtime)
