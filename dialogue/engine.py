"""The dialogue engine: one inbound message in, the replies out, conversation state saved in between.

``DialogueEngine.handle`` runs inside the caller's transaction (the inbound pipeline commits). It loads the
identity's ``Conversation`` row, builds the ``Turn`` and hands it, in order of precedence, to the flows in
``dialogue.flows``: opt-out → opted-out silence → handoff silence → first contact → idle restart → unsupported
media → escalation lexicon → cancel/menu/help → handoff request → a button of an older message → the current
flow's step → free intent (new report, status, greeting, ...). Odd input never raises: anything but a database
error is logged and answered with the ``error_generic`` template, and the turn's partial changes are rolled back
to a savepoint. Database errors propagate so the pipeline retries the message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dialogue import state
from dialogue.escalation import EscalationLexicon
from dialogue.flows import control, free_intent, handoff, report, status, survey
from dialogue.render import Renderer
from dialogue.simulated import dialogue_channel
from dialogue.turn import Services, Turn, clean_text
from dialogue.understanding import read_choice
from nlu.api import Parser
from reporta.messages import InboundMessage, OutboundMessage
from reporta.settings import Settings
from ticketing.catalog import Catalog
from ticketing.models import ChannelIdentity, ConversationMode, Message, utcnow
from ticketing.service import TicketListener

log = logging.getLogger("reporta.dialogue")

class DialogueEngine:
    """Turns one inbound message into replies; stateless itself (state lives in ``conversations``)."""

    def __init__(
        self,
        *,
        settings: Settings,
        catalog: Catalog,
        parser: Parser,
        renderer: Renderer,
        listeners: Sequence[TicketListener] = (),
        escalation: EscalationLexicon | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.parser = parser
        self.renderer = renderer
        self.listeners = tuple(listeners)
        self.escalation = escalation or EscalationLexicon.load(settings.data_dir / "dialogue" / "escalation.yml")
        # Each flow's handler of the next message (True: it was an answer to the flow's question); attributes, so a
        # test can break one.
        self._report_step: Callable[[Turn], bool] = report.step
        self._status_step: Callable[[Turn], bool] = status.step
        self._survey_step: Callable[[Turn], bool] = survey.step
        self._relocate_step: Callable[[Turn], bool] = survey.relocate_step

    def _services(self) -> Services:
        # Read at every message: the attributes above may be replaced (a test wraps the parser).
        return Services(settings=self.settings, catalog=self.catalog, parser=self.parser, renderer=self.renderer,
                        listeners=self.listeners, escalation=self.escalation)

    def handle(
        self, session: Session, message: Message | None, inbound: InboundMessage, identity: ChannelIdentity
    ) -> list[OutboundMessage]:
        """Handle one inbound message in the caller's transaction; return the replies to send (maybe none)."""
        conv = state.load_conversation(session, identity)
        if message is not None:
            message.conversation_id = conv.id
        now = inbound.received_at or utcnow()
        if now.tzinfo is None:
            now = now.replace(tzinfo=utcnow().tzinfo)
        turn = Turn(
            services=self._services(), channel=dialogue_channel(inbound.channel, inbound.external_id),
            session=session, conv=conv, identity=identity, citizen=identity.citizen, inbound=inbound,
            message=message, now=now, text=clean_text(inbound.text), slots=state.slots(conv),
        )
        try:
            with session.begin_nested():
                self._dispatch(turn)
                if not turn.silent:
                    _save(turn)
        except SQLAlchemyError:
            raise
        except Exception:
            log.exception("dialogue: conversation %s failed on message %s; answered with error_generic",
                          conv.id, getattr(message, "id", None))
            turn.replies = []
            turn.offered = None
            turn.silent = False
            turn.say("error_generic")
        if not turn.silent:
            state.touch(conv, now)
        log.info("dialogue: conversation %s flow=%s step=%s mode=%s replies=%d", conv.id, conv.flow, conv.step,
                 getattr(conv.mode, "value", conv.mode), len(turn.replies))
        return turn.replies

    def _dispatch(self, turn: Turn) -> None:
        """Hand the message to the first part of the dialogue that takes it (see the module docstring)."""
        if control.opt_out_or_in(turn):
            return
        if turn.conv.mode == ConversationMode.HANDOFF:
            turn.silent = True  # staff answer; the message is in the log for them
            return
        control.welcome_or_restart(turn)
        read_choice(turn)
        if control.unusable_media(turn) or control.empty_message(turn):
            return
        escalation = self.escalation.classify(turn.text)
        if escalation:
            handoff.start(turn, escalation)
            return
        if control.command(turn):
            return
        if turn.choice == "menu:handoff" or (turn.choice is None and handoff.wants_person(turn)):
            handoff.start(turn, "requested")
            return
        if control.old_button(turn):
            return
        step = {"report": self._report_step, "status": self._status_step, "survey": self._survey_step,
                "relocate": self._relocate_step}.get(turn.conv.flow or "")
        if step is not None and step(turn):
            return
        if turn.conv.flow:
            turn.end_flow()  # not an answer to the flow's question: the draft is dropped
        free_intent.answer(turn)


def _save(turn: Turn) -> None:
    """Save slots, offered options and the misunderstanding counter on the conversation."""
    conv = turn.conv
    if turn.misunderstood:
        conv.misunderstood_count = (conv.misunderstood_count or 0) + 1
    elif conv.mode == ConversationMode.BOT:
        conv.misunderstood_count = 0
    values = dict(turn.slots)
    values["options"] = turn.offered or []
    if conv.flow is None:
        values = {"options": values["options"]}
    state.set_slots(conv, values)
