"""How buttons look on channels without native buttons: numbered options appended to the text.

The contract with the dialogue engine: on WhatsApp, SMS and the simulator, ``format_options`` appends
``1. <title>`` … ``n. <title>`` in the order of the buttons sent; the dialogue stores the payloads it sent in
the conversation slots and maps a reply of ``"1"``..``"n"`` (or the title) back to the payload. On Telegram
the buttons are a native inline keyboard and the text is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.channel import capabilities
from reporta.messages import Button


def format_options(text: str, buttons: Sequence[Button], channel: str) -> str:
    """``text`` plus the numbered options when ``channel`` has no native buttons."""
    if not buttons or not capabilities(channel).numbered_options:
        return text
    lines = [f"{i}. {b.title}" for i, b in enumerate(buttons, start=1)]
    return f"{text.rstrip()}\n\n" + "\n".join(lines) if text.strip() else "\n".join(lines)


def option_number(text: str | None, count: int) -> int | None:
    """The 0-based option a citizen typed (``"2"``, ``" 2. "``, ``"#2"``), or None."""
    if not text:
        return None
    cleaned = text.strip().strip(".)#-").strip()
    if cleaned.isdigit():
        n = int(cleaned)
        if 1 <= n <= count:
            return n - 1
    return None
