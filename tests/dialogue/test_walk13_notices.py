"""Walkthrough 13, notices: a "programado" closing says the date, not "se cerró sin arreglo", and a question about it
does not reopen with a later date (F22); the citizen's own reopen words are not "Nota del área" (F23); a staff note
ends its sentence before the next one, and SMS notes are cut between words (F24)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dialogue.render import sentence
from tests.dialogue.conftest import World
from tests.dialogue.test_notices import outbox, reported, staff, status_of
from ticketing.models import TicketStatus

pytestmark = pytest.mark.sqlite_only

CHANNELS = ["sms", "whatsapp", "telegram"]


def _schedule_closed(days: int = 7):
    def change(svc, t) -> None:
        svc.change_status(t, "not_resolved", actor="staff:ana", reason="scheduled",
                          scheduled_for=svc.now() + timedelta(days=days))
    return change


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("answer", ["hasta el 9?? no manches, ya se poncharon 3 carros, no pueden antes?",
                                    "¿no pueden antes?", "ok gracias"])
def test_a_scheduled_closing_gives_the_date_and_a_question_does_not_push_it(world: World, channel: str,
                                                                          answer: str) -> None:
    chat, folio = reported(world, channel, "hay un bache en Universidad 100 col Centro")
    staff(world, folio, _schedule_closed())
    notice = outbox(world)[-1].body
    assert "sin arreglo" not in notice and "programad" in notice
    before = status_of(world, folio)
    chat.send(answer)
    after = status_of(world, folio)
    assert after.reopen_count == 0 and after.scheduled_for == before.scheduled_for
    assert "Reabrimos" not in chat.text and "nueva fecha" not in chat.text.lower()


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("words", ["sigue igual, nadie vino a tapar el hoyo de la esquina",
                                   "no es cierto, sigue el hoyo y está más grande"])
def test_the_citizens_reopen_words_are_not_the_areas_note(world: World, channel: str, words: str) -> None:
    chat, folio = reported(world, channel)
    staff(world, folio, lambda svc, t: svc.change_status(t, "not_resolved", actor="staff:ana",
                                                         reason="no_problem_found", public_note="Todo en orden."))
    chat.send(words)
    assert status_of(world, folio).status != TicketStatus.NOT_RESOLVED
    if chat.conversation().flow:
        chat.send("menú")
    chat.send(folio)
    assert words[:20] not in chat.text
    assert "Nota del área" not in chat.text or "Todo en orden" in chat.text


@pytest.mark.parametrize(("note", "expected"), [
    ("Se tapó el bache con asfalto", "Se tapó el bache con asfalto."), ("Listo.", "Listo."),
    ("¿Nos avisas?", "¿Nos avisas?"), ("  Quedó bien  ", "Quedó bien."), ("", ""),
])
def test_sentence(note: str, expected: str) -> None:
    assert sentence(note) == expected


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("template", ["status_resolved", "status_could_not_locate", "status_in_progress"])
def test_a_staff_note_ends_before_the_next_sentence(world: World, channel: str, template: str) -> None:
    note = "Recorrimos toda la calle Hidalgo y no vimos ningún árbol caído"
    text = world.renderer.render(template, channel, folio="1234-5678", category="Árbol", note=note, reason="x",
                                 reason_name="x", explanation="x", agency=None, contact=None,
                                 referral_explanation=None, department=None)
    assert (note + " " not in text and f"{note}\n" not in text.replace(".\n", "\n")) or note + "." in text
    assert "caído ¿" not in text and "caido ¿" not in text and "caido Pronto" not in text


@pytest.mark.parametrize("template", ["status_resolved", "status_could_not_locate", "status_out_of_jurisdiction",
                                      "status_in_progress", "relocate_ask"])
def test_sms_notes_are_cut_between_words(world: World, template: str) -> None:
    note = ("El ruido de fiestas lo atiende la policia municipal; llama al 911 cuando pase y da tu direccion "
            "completa para que lleguen rapido")
    text = world.renderer.render(template, "sms", folio="1234-5678", category="Ruido", note=note, reason="x",
                                 reason_name="x", explanation="x", agency="Seguridad Publica (911)", contact=None,
                                 referral_explanation=None, department=None)
    assert len(text) <= 160
    if "..." in text:
        cut = text.split("...")[0].split()[-1]
        assert cut in note.split() or cut.rstrip(".,;") in note.split()
    if template == "status_out_of_jurisdiction":
        assert "El ruido de fiestas lo atiende la policia municipal" in text  # the room the SMS has is used
