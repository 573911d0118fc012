"""The terminal simulator (``reporta chat``): talk to the real pipeline, dialogue engine and store from a shell.

``--channel telegram|whatsapp|sms`` makes the conversation behave exactly like that channel for the dialogue:
the identity is ``sim-<user>`` (WhatsApp) or ``sim-<user>:<channel>`` on channel ``simulator``
(``dialogue.simulated``), and the dialogue writes for the mimicked channel — its template variants (SMS: the
GSM-7 ones, no photo step), its options (numbered by ``bot/render_options.py`` on WhatsApp/SMS, buttons on
Telegram) — while every message, reply or later update, stays a ``simulator`` outbox row: only a simulator sender
ever delivers it, so nothing reaches Telegram or Twilio, not even through the dispatcher of ``reporta serve``.
Replies are printed the way the channel shows them (SMS: character and segment count). A background dispatcher
loop prints proactive messages (status updates, "¿ya quedó?") as soon as they are due, without a keystroke, and
the terminal claims only its own citizen's rows (``Dispatcher.only_identities``): another ``--user``'s updates
stay for that user's terminal.

Commands: ``/ubicacion LAT LON`` shares a pin, ``/foto PATH`` sends a photo (not on SMS, which takes neither),
``/boton N`` presses the N-th button of the last message (Telegram), ``/salir`` ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.channel import Download, capabilities
from bot.senders import SimulatorSender
from dialogue.render import sms_segments, to_gsm7
from dialogue.simulated import SIMULATOR, simulator_external_id
from reporta.messages import InboundMessage, Location, Media, OutboundMessage
from reporta.runtime import Runtime
from reporta.settings import Settings
from ticketing.citizens import get_or_create_identity
from ticketing.models import utcnow

HELP = "Escribe como ciudadano. Comandos: /ubicacion LAT LON, /foto RUTA, /boton N, /salir"


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
        self.external_id = simulator_external_id(user, mimic)
        self.capabilities = capabilities(mimic)
        self.last_buttons: tuple = ()
        self.waiting_for_input = False
        self.sender = SimulatorSender(sink=self._show, mimic=mimic)
        # Only the simulator's sender: rows for real channels stay for the server's dispatcher.
        self.runtime = Runtime.from_settings(settings, channels=False, senders={SIMULATOR: self.sender},
                                             dispatcher_options={"rate_limits": False})
        self.runtime.pipeline.media_sources[SIMULATOR] = LocalFiles()
        # This terminal delivers only its own citizen's messages (another terminal's updates stay for it), and
        # delivers them when they are due, not at the next keystroke: a background dispatcher loop.
        with self.runtime.session_factory() as session, session.begin():
            identity = get_or_create_identity(session, SIMULATOR, self.external_id)
            self.identity_id = identity.id
        self.runtime.dispatcher.only_identities = frozenset({self.identity_id})

    def start_background(self) -> None:
        """Print proactive updates (status changes, "¿ya quedó?") as soon as they are sent."""
        self.runtime.dispatcher.start()

    def _show(self, message: OutboundMessage, rendered: str) -> None:
        prompt = "bot>"
        self.last_buttons = message.buttons
        if self.waiting_for_input:  # an update arrived while the citizen was not typing: a fresh line
            prompt = "\nbot>"
        if self.mimic == "sms":
            rendered = to_gsm7(rendered)
            self.out(f"{prompt} {rendered}\n     [{len(rendered)} caracteres, {sms_segments(rendered)} SMS]")
        else:
            self.out(f"{prompt} {rendered}")

    def inbound(self, line: str) -> InboundMessage | None:
        """A typed line → the message the citizen sends (None for /salir); raises ValueError on bad commands."""
        line = line.strip()
        common = {"channel": SIMULATOR, "external_id": self.external_id,
                  "provider_message_id": f"sim-{uuid.uuid4().hex}", "received_at": utcnow(), "display_name": None}
        if line in ("/salir", "/exit", "/quit"):
            return None
        if line.startswith("/ubicacion"):
            if not self.capabilities.receives_location:
                raise ValueError(f"En {self.mimic} no se puede compartir una ubicación; escribe la dirección")
            parts = line.split()
            if len(parts) != 3:
                raise ValueError("Uso: /ubicacion LAT LON (por ejemplo /ubicacion 25.6866 -100.3161)")
            try:
                lat, lon = float(parts[1]), float(parts[2])
            except ValueError:
                raise ValueError("Uso: /ubicacion LAT LON (por ejemplo /ubicacion 25.6866 -100.3161)") from None
            return InboundMessage(**common, location=Location(lat, lon), raw_kind="location")
        if line.startswith("/foto"):
            if not self.capabilities.media:
                raise ValueError(f"En {self.mimic} no se pueden enviar fotos")
            path = Path(line[len("/foto"):].strip()).expanduser()
            if not path.is_file():
                raise ValueError(f"No encuentro el archivo {path}")
            return InboundMessage(**common, raw_kind="photo", media=(
                Media(kind="photo", url=str(path), size_bytes=path.stat().st_size),))
        if line.startswith("/boton"):
            number = line[len("/boton"):].strip()
            if not number.isdigit() or not 1 <= int(number) <= len(self.last_buttons):
                raise ValueError(f"Uso: /boton N (N del 1 al {len(self.last_buttons)}, del último mensaje)")
            button = self.last_buttons[int(number) - 1]
            return InboundMessage(**common, text=button.title, button_payload=button.payload, raw_kind="text")
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
    try:
        sim = Simulator(settings, mimic=mimic, user=user)
    except ValueError as exc:
        raise SystemExit(f"reporta chat: {exc}") from None
    print(f"Reporta — simulador ({mimic}). {HELP}")
    sim.start_background()
    try:
        while True:
            try:
                sim.waiting_for_input = True
                line = input("tú> ")
            except EOFError:
                break
            finally:
                sim.waiting_for_input = False
            if line.strip() and not sim.send(line):
                break
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
