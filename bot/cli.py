"""The `reporta` commands owned by `bot/`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this room's commands to the root app."""
