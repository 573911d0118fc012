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
from contextlib import nullcontext

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dialogue import state
from dialogue.escalation import EscalationLexicon
from dialogue.flows import control, escalate, followup, free_intent, frustration, handoff, report, status, survey
from dialogue.flows import privacy as privacy_flow
from dialogue.render import Renderer
from dialogue.simulated import dialogue_channel
from dialogue.turn import Services, Turn, clean_text
from dialogue.understanding import read_choice
from nlu.api import Parser
from reporta.messages import InboundMessage, OutboundMessage, TurnFailed
from reporta.settings import Settings
from ticketing.catalog import Catalog
from ticketing.models import ChannelIdentity, Conversation, ConversationMode, Message, utcnow
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
        self._services_cache: tuple[tuple[object, ...], Services] | None = None

    def _services(self) -> Services:
        # The attributes above may be replaced (a test wraps the parser): rebuilt only when one of them changed.
        parts = (self.settings, self.catalog, self.parser, self.renderer, self.listeners, self.escalation)
        cached = self._services_cache
        if cached is None or any(a is not b for a, b in zip(cached[0], parts, strict=True)):
            services = Services(settings=self.settings, catalog=self.catalog, parser=self.parser,
                                renderer=self.renderer, listeners=self.listeners, escalation=self.escalation)
            self._services_cache = cached = (parts, services)
        return cached[1]

    def load_conversations(self, session: Session, identities: Sequence[ChannelIdentity]) -> dict[int, Conversation]:
        """The conversations of ``identities`` (created for first contacts), row-locked, in one statement: for a
        caller that handles a batch of citizens (the inbound pipeline) and passes each to ``handle``."""
        return state.load_conversations(session, identities)

    def handle(
        self, session: Session, message: Message | None, inbound: InboundMessage, identity: ChannelIdentity,
        conversation: Conversation | None = None, *, own_savepoint: bool = True,
    ) -> list[OutboundMessage]:
        """Handle one inbound message in the caller's transaction; return the replies to send (maybe none).

        ``conversation``: the identity's conversation when the caller already loaded (and locked) it
        (``load_conversations``); else it is loaded here. ``own_savepoint=False``: the caller already runs this
        call in a savepoint of its own (the inbound pipeline, one per message), so none is opened here; a failing
        turn then raises ``TurnFailed`` and the caller rolls back its savepoint and calls ``handle_failed``."""
        conv = conversation if conversation is not None else state.load_conversation(session, identity)
        turn = self._turn(session, message, inbound, identity, conv)
        try:
            with session.begin_nested() if own_savepoint else nullcontext():
                self._dispatch(turn)
                if not turn.silent:
                    _save(turn)
                    state.touch(conv, turn.now)  # saved with the turn's changes: one UPDATE of the conversation
        except SQLAlchemyError:
            raise
        except Exception as exc:
            log.exception("dialogue: conversation %s failed on message %s; answered with error_generic",
                          conv.id, getattr(message, "id", None))
            if not own_savepoint:
                raise TurnFailed(f"{type(exc).__name__}: {exc}") from exc
            self._failed(turn)
        if message is not None:
            message.conversation_id = conv.id  # after the savepoint: flushed with the caller's update of the row
        self._log(turn)
        return turn.replies

    def handle_failed(
        self, session: Session, message: Message | None, inbound: InboundMessage, identity: ChannelIdentity,
        conversation: Conversation | None = None,
    ) -> list[OutboundMessage]:
        """The answer to a message whose turn raised ``TurnFailed`` once the caller rolled the turn back:
        ``error_generic``, the conversation left where it was (touched)."""
        conv = conversation if conversation is not None else state.load_conversation(session, identity)
        turn = self._turn(session, message, inbound, identity, conv)
        self._failed(turn)  # (the failure was logged by ``handle``)
        if message is not None:
            message.conversation_id = conv.id
        self._log(turn)
        return turn.replies

    def _turn(self, session: Session, message: Message | None, inbound: InboundMessage, identity: ChannelIdentity,
              conv: Conversation) -> Turn:
        now = inbound.received_at or utcnow()
        if now.tzinfo is None:
            now = now.replace(tzinfo=utcnow().tzinfo)
        return Turn(
            services=self._services(), channel=dialogue_channel(inbound.channel, inbound.external_id),
            session=session, conv=conv, identity=identity, citizen=identity.citizen, inbound=inbound,
            message=message, now=now, text=clean_text(inbound.text), slots=state.slots(conv),
        )

    @staticmethod
    def _failed(turn: Turn) -> None:
        """After the turn's changes were rolled back: answered with ``error_generic``."""
        turn.replies = []
        turn.offered = None
        turn.silent = False
        turn.say("error_generic")
        state.touch(turn.conv, turn.now)

    @staticmethod
    def _log(turn: Turn) -> None:
        conv = turn.conv
        log.info("dialogue: conversation %s flow=%s step=%s mode=%s replies=%d", conv.id, conv.flow, conv.step,
                 getattr(conv.mode, "value", conv.mode), len(turn.replies))

    def _dispatch(self, turn: Turn) -> None:
        """Hand the message to the first part of the dialogue that takes it (see the module docstring)."""
        if control.opt_out_or_in(turn):
            return
        escalation = self.escalation.classify(turn.text)
        if turn.conv.mode == ConversationMode.HANDOFF:
            if handoff.while_handed_off(turn, escalation):  # silent for staff, unless it leaves or times out
                return
        elif escalation == "anguished":
            turn.say("emergency")  # the emergency advice before anything else, the privacy notice included
        control.welcome_or_restart(turn)
        read_choice(turn)
        if control.unusable_media(turn) or control.empty_message(turn):
            return
        if escalation in ("anguished", "abusive"):
            escalate.start(turn, escalation)
            return
        if escalation == "frustrated" and frustration.calm(turn):
            return
        if control.command(turn) or free_intent.opt_out_phrase(turn) or free_intent.greeting_aside(turn):
            return
        if privacy_flow.command(turn):  # PRIVACIDAD / MIS DATOS / BORRAR MIS DATOS
            return
        if turn.choice == "menu:handoff" or (turn.choice is None and handoff.wants_person(turn)):
            escalate.start(turn, "requested")
            return
        if control.old_button(turn):
            return
        step = {"report": self._report_step, "status": self._status_step, "survey": self._survey_step,
                "relocate": self._relocate_step, "followup": followup.step}.get(turn.conv.flow or "")
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
    if conv.flow is None:  # only the options (and an unsent report kept for staff during a handoff)
        values = {k: values[k] for k in ("options", "draft", "staff_replied_at", status.SHOWN_SLOT) if k in values}
    state.set_slots(conv, values)
