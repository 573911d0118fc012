"""``reporta handoff list / reply / close`` against a real database."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from reporta.cli import app
from reporta.settings import get_settings
from tests.dialogue.conftest import World
from ticketing.models import ConversationMode, OutboxMessage


@pytest.fixture
def cli_env(world: World, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REPORTA_DATABASE_URL", world.settings.database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_handoff_cli_list_reply_close(world: World, cli_env) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["handoff", "list"])
    assert result.exit_code == 0 and "no conversations" in result.output

    chat = world.chat("whatsapp")
    chat.send("quiero hablar con una persona")
    conversation_id = chat.conversation().id

    result = runner.invoke(app, ["handoff", "list", "--json"])
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.output)
    assert item["id"] == conversation_id and item["reason"] == "requested"
    assert chat.external_id not in result.output  # no phone numbers

    result = runner.invoke(app, ["handoff", "reply", str(conversation_id), "Hola, soy Ana, ¿en qué te ayudo?",
                                 "--staff", "Ana"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["handoff", "close", str(conversation_id)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["handoff", "close", str(conversation_id)])
    assert result.exit_code == 1 and "not waiting for staff" in result.output
    result = runner.invoke(app, ["handoff", "reply", "999999", "hola"])
    assert result.exit_code == 1

    with world.factory() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [r.kind for r in rows] == ["staff_reply", "handoff_closed"]
        assert rows[0].body == "Ana (Atención Ciudadana): Hola, soy Ana, ¿en qué te ayudo?"
        assert rows[1].body.startswith("Atención Ciudadana terminó la conversación.")  # no staff named: the team
    assert chat.conversation().mode == ConversationMode.BOT
