"""Citizens' privacy rights from the chat (the municipality is a *sujeto obligado*; see docs/privacy.md).

- **PRIVACIDAD** ("aviso de privacidad"): the simplified privacy notice again, with the full notice's link
  (``REPORTA_PRIVACY_NOTICE_URL``) — template ``privacy_notice``.
- **MIS DATOS** ("¿qué datos tienen de mí?"): what Reporta holds about the citizen — their reports and status,
  what else is kept — on the same channel, with how to reach the Unidad de Transparencia
  (``REPORTA_TRANSPARENCY_CONTACT``) — ``privacy_access``; the request is audited (``privacy_requests``).
- **BORRAR MIS DATOS** ("borra mis datos", "eliminen mis datos", "cancelar mis datos", "olvídame"...): a deletion
  request recorded for staff (``reporta citizens requests`` / ``forget``) — ``privacy_erasure``.

Recognised at any point of a conversation (after the exact commands cancelar / menú / ayuda); the pending
question is asked again afterwards. The data work is ``ticketing.privacy``'s.
"""

from __future__ import annotations

import re

from dialogue.flows import control
from dialogue.formatting import long_date
from dialogue.turn import Turn
from ticketing import privacy

#: "PRIVACIDAD": the notice again.
NOTICE_WORDS = frozenset({"privacidad", "aviso de privacidad", "aviso", "mi privacidad", "aviso privacidad",
                          "politica de privacidad", "mis derechos", "derechos arco"})
#: "MIS DATOS": what is held about me.
ACCESS_WORDS = frozenset({"mis datos", "mis datos personales", "ver mis datos", "que datos tienen",
                          "que datos tienen de mi", "que datos tienen mios", "que saben de mi",
                          "que informacion tienen de mi", "acceso a mis datos", "consultar mis datos",
                          "quiero ver mis datos", "que datos guardan", "que datos guardan de mi"})
#: A request to delete: a verb of removal followed by "my data / my number / my information", or "forget me".
_ERASURE = re.compile(
    r"\b(?:borr|elimin|suprim|quit|cancel|destru|desaparec|limpi)\w*\s+(?:por\s+favor\s+)?(?:todos?\s+)?"
    r"(?:mis|los|mi|toda\s+mi)\s+(?:datos|informacion|info|numero|registros?|cuenta|historial)\b"
    r"(?!\s+(?:de|del)\s+(?:folio|reporte|ticket))"
    r"|\bolvid(?:ame|enme|arme|en\s+mis\s+datos)\b|\bderecho\s+al\s+olvido\b"
    r"|\bno\s+quiero\s+que\s+(?:guarden|tengan)\s+mis\s+datos\b"
    r"|\b(?:supresion|cancelacion|eliminacion|borrado)\s+de\s+(?:mis\s+)?datos\b"
)
#: Longer messages are reports or questions, not a command (a report may say "borraron la pintura").
MAX_COMMAND_CHARS = 120


def is_erasure(folded: str) -> bool:
    return bool(folded) and len(folded) <= MAX_COMMAND_CHARS and bool(_ERASURE.search(folded))


def command(turn: Turn) -> bool:
    """PRIVACIDAD / MIS DATOS / a deletion request; True when the message was taken here."""
    if turn.choice is not None:
        return False
    folded = turn.folded
    if not folded or len(folded) > MAX_COMMAND_CHARS:
        return False
    if is_erasure(folded):
        erasure(turn)
    elif folded in ACCESS_WORDS:
        access(turn)
    elif folded in NOTICE_WORDS:
        turn.say("privacy_notice")
    else:
        return False
    control.reprompt(turn)
    return True


def channel_name(turn: Turn, code: str) -> str:
    """A channel as the citizen reads it (label ``channel_<code>`` of ``labels.j2``); an unknown one as its code."""
    try:
        return turn.label(f"channel_{code}")
    except KeyError:
        return code


def _contact(turn: Turn) -> str:
    return turn.services.settings.transparency_contact


def access(turn: Turn) -> None:
    services = turn.services
    summary = privacy.access_summary(turn.session, turn.citizen)
    privacy.record_access(turn.session, turn.citizen, turn.inbound.channel, turn.now)
    tz = services.settings.timezone
    tickets = [{"folio": t.folio, "category": services.category_name(t.category_code) or t.category_code,
                "status": services.status_words(turn.channel, t.status), "date": long_date(t.created_at, tz)}
               for t in summary.tickets]
    turn.say("privacy_access", profile_name=summary.name, phone_hint=summary.phone_hint,
             channels=[channel_name(turn, c) for c in summary.channels],
             since=long_date(summary.since, tz), tickets=tickets, ticket_count=summary.ticket_count,
             open_count=summary.open_count, messages=summary.messages, photos=summary.photos,
             pending_id=summary.pending_erasure_id, contact=_contact(turn))


def erasure(turn: Turn) -> None:
    request, created = privacy.request_erasure(turn.session, turn.citizen, turn.inbound.channel, turn.now)
    summary = privacy.access_summary(turn.session, turn.citizen, max_tickets=0)
    turn.say("privacy_erasure", request_id=request.id, created=created, ticket_count=summary.ticket_count,
             open_count=summary.open_count, contact=_contact(turn))
