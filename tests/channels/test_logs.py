"""No personal data or signed URLs in any log line at any level (issue 14, item 7), on both databases.

Citizens write on Telegram and WhatsApp (names, phone numbers, texts that are easy to spot), a photo goes out by
a signed ``/media`` link, and the database fails under the inbox writer; every record logged meanwhile, at
DEBUG with ``reporta.logs.configure_logging`` applied, is searched for any of it, tracebacks included. A store
failure costs one line, without a traceback.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from bot.media_links import media_link
from reporta.logs import configure_logging
from reporta.runtime import Runtime
from tests.channels.conftest import TW_SID, AppServer, settle

NAME_TG, NAME_WA = "Ramiro Oculto", "Juana Secreta"
PHONE = "+528119998877"
CHAT = 987654321
TEXTS = ("hay un bache secreto-XYZ", "texto-privado-ABC", "mi numero es 8119998877")


def _formatted(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    return text + (record.exc_text or "")


def test_no_personal_data_or_signed_url_in_any_log_line(app: AppServer, runtime: Runtime, caplog) -> None:
    configure_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    app.telegram({"update_id": 101, "message": {
        "message_id": 1, "date": 1764547200, "text": TEXTS[1], "chat": {"id": CHAT, "type": "private"},
        "from": {"id": CHAT, "is_bot": False, "first_name": NAME_TG}}})
    app.twilio({"MessageSid": "SM" + "e" * 32, "AccountSid": TW_SID, "From": f"whatsapp:{PHONE}",
                "To": "whatsapp:+528100000001", "Body": TEXTS[0], "ProfileName": NAME_WA, "NumMedia": "0"})
    app.twilio({"MessageSid": "SM" + "f" * 32, "AccountSid": TW_SID, "From": PHONE, "To": "+528100000000",
                "Body": TEXTS[2], "NumMedia": "0"})
    settle(runtime, timeout=15)
    photo = runtime.settings.media_path / "ab" / "logtest.jpg"
    photo.parent.mkdir(parents=True, exist_ok=True)
    photo.write_bytes(b"\xff\xd8\xff\xe0")
    link = media_link(runtime.settings, str(photo))
    signature = link.split("sig=", 1)[1]
    app.client.get(link.replace(runtime.settings.public_url.rstrip("/"), ""))

    down = threading.Event()

    @event.listens_for(runtime.engine, "before_cursor_execute")
    def _outage(conn, cursor, statement, parameters, context, executemany) -> None:
        if down.is_set():
            raise OperationalError(statement, parameters, ConnectionError("server closed the connection"))

    down.set()
    try:
        failed = app.telegram({"update_id": 102, "message": {
            "message_id": 2, "date": 1764547200, "text": TEXTS[1] + " otra vez", "chat": {"id": CHAT + 1,
                                                                                         "type": "private"},
            "from": {"id": CHAT + 1, "is_bot": False, "first_name": NAME_TG}}})
    finally:
        down.clear()
    assert failed.status_code == 503  # Telegram delivers it again later

    lines = [_formatted(r) for r in caplog.records]
    assert lines, "nothing was logged"
    secrets = [NAME_TG, NAME_WA, PHONE, PHONE[3:], str(CHAT), str(CHAT + 1), signature, *TEXTS]
    leaks = [(s, line[:200]) for line in lines for s in secrets if s in line]
    assert leaks == []
    store_lines = [r for r in caplog.records if "could not be stored" in r.getMessage()]
    assert len(store_lines) == 1 and store_lines[0].exc_info is None
