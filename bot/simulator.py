"""The terminal simulator (``reporta chat``): talk to the real pipeline, dialogue engine and store from a shell.

Messages go in as channel ``simulator`` (identity ``sim-<user>``) through the same ``accept`` → ``process`` →
outbox → dispatcher path as a webhook; replies are printed the way the mimicked channel would show them
(``--channel telegram|whatsapp|sms``: buttons, numbered options, GSM-7 folding and segment count for SMS).
Commands: ``/ubicacion LAT LON`` shares a pin, ``/foto PATH`` sends a photo, ``/salir`` ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.channel import Download
from bot.senders import SimulatorSender
from dialogue.render import sms_segments, to_gsm7
from reporta.messages import InboundMessage, Location, Media, OutboundMessage
from reporta.runtime import Runtime
from reporta.settings import Settings
from ticketing.models import utcnow

HELP = "Escribe como ciudadano. Comandos: /ubicacion LAT LON, /foto RUTA, /salir"


class LocalFiles:
    """The simulator's media source: ``/foto PATH`` reads a local file."""

    @contextmanager
    def fetch_media(self, media: Media) -> Iterator[Download]:
        path = Path(media.url or "")
        with path.open("rb") as fh:
            yield Download(iter(lambda: fh.read(64 * 1024), b""), None, path.stat().st_size)


class Simulator:
    def __init__(self, settings: Settings, *, mimic: str = "whatsapp", user: str = "local",
                 out: Callable[[str], None] = print) -> None:
        self.mimic = mimic
        self.out = out
        self.external_id = f"sim-{user}"
        self.sender = SimulatorSender(sink=self._show, mimic=mimic)
        # Only the simulator's sender: rows for real channels stay for the server's dispatcher.
        self.runtime = Runtime.from_settings(settings, channels=False, senders={"simulator": self.sender},
                                             dispatcher_options={"rate_limits": False})
        self.runtime.pipeline.media_sources["simulator"] = LocalFiles()

    def _show(self, message: OutboundMessage, rendered: str) -> None:
        if self.mimic == "sms":
            rendered = to_gsm7(rendered)
            self.out(f"bot> {rendered}\n     [{len(rendered)} caracteres, {sms_segments(rendered)} SMS]")
        else:
            self.out(f"bot> {rendered}")

    def inbound(self, line: str) -> InboundMessage | None:
        """A typed line → the message the citizen sends (None for /salir); raises ValueError on bad commands."""
        line = line.strip()
        common = {"channel": "simulator", "external_id": self.external_id,
                  "provider_message_id": f"sim-{uuid.uuid4().hex}", "received_at": utcnow(), "display_name": None}
        if line in ("/salir", "/exit", "/quit"):
            return None
        if line.startswith("/ubicacion"):
            parts = line.split()
            if len(parts) != 3:
                raise ValueError("Uso: /ubicacion LAT LON (por ejemplo /ubicacion 25.6866 -100.3161)")
            lat, lon = float(parts[1]), float(parts[2])
            return InboundMessage(**common, location=Location(lat, lon), raw_kind="location")
        if line.startswith("/foto"):
            path = Path(line[len("/foto"):].strip()).expanduser()
            if not path.is_file():
                raise ValueError(f"No encuentro el archivo {path}")
            return InboundMessage(**common, raw_kind="photo", media=(
                Media(kind="photo", url=str(path), size_bytes=path.stat().st_size),))
        return InboundMessage(**common, text=line, raw_kind="text")

    def send(self, line: str) -> bool:
        """Handle one typed line end to end; False when the user left."""
        try:
            inbound = self.inbound(line)
        except ValueError as exc:
            self.out(f"!! {exc}")
            return True
        if inbound is None:
            return False
        message_id = self.runtime.pipeline.accept(inbound)
        if message_id is not None:
            self.runtime.pipeline.process(message_id)
        self.runtime.dispatcher.drain()
        return True

    def close(self) -> None:
        self.runtime.close()


def run(settings: Settings, mimic: str, user: str) -> None:
    sim = Simulator(settings, mimic=mimic, user=user)
    print(f"Reporta — simulador ({mimic}). {HELP}")
    try:
        while True:
            try:
                line = input("tú> ")
            except EOFError:
                break
            if line.strip() and not sim.send(line):
                break
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
