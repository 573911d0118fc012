"""The public address kept with each ticket (``tickets.public_address``): filling it for tickets whose address
was written before it existed, or outside the ORM, or under other rules (``reporta opendata keep-addresses``).

The ORM keeps it up to date on every write of ``Ticket.address`` (``ticketing.models``); the exports use a kept
value only while its key matches the ticket's address and ``ticketing.anonymise.ADDRESS_RULES``, so this command
only makes exports faster, never different.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, select, update

from ticketing.models import Ticket
from web.publication import address_key, cached_address

BATCH = 2000


def keep_addresses(session_factory: Any, *, batch: int = BATCH, progress: Callable[[int, int], None] | None = None
                   ) -> int:
    """Computes and stores the public address of every ticket whose kept one is missing or stale; returns how
    many it wrote. Works in batches by id (each its own transaction): memory stays flat, other writers wait
    for no long lock."""
    t = Ticket.__table__
    write = (update(t).where(t.c.id == bindparam("ticket_id"))
             # a kept address is not a change of the ticket: updated_at (published) stays as it is
             .values(public_address=bindparam("kept"), public_address_key=bindparam("key"),
                     updated_at=t.c.updated_at))
    last_id, written, seen = 0, 0, 0
    while True:
        with session_factory() as session:
            rows = session.execute(
                select(t.c.id, t.c.address, t.c.public_address_key)
                .where(t.c.id > last_id).order_by(t.c.id).limit(batch)).all()
            if not rows:
                return written
            last_id = rows[-1][0]
            seen += len(rows)
            stale = [{"ticket_id": ticket_id, "kept": kept, "key": key}
                     for ticket_id, address, old_key in rows if address_key(address) != old_key
                     for kept, key in [cached_address(address)]]
            if stale:
                session.execute(write, stale)
                session.commit()
                written += len(stale)
        if progress is not None:
            progress(seen, written)
