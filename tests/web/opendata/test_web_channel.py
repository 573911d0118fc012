"""The ``web`` channel's parsing (bot/web.py) on its own: forms → InboundMessage, the map's pixel → degrees,
bad values refused by key (worded in opendata/notices.j2), uploads capped while staged, identities opaque."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.channel import BadRequest
from bot.media import MediaRejected
from bot.web import FormRefused, WebChannel, WebIdentity, new_nonce
from reporta.settings import Settings
from web.opendata.report import NOTICES
from web.templating import Pages

BBOX = (25.0, -101.0, 26.0, -100.0)
SIZE = (300, 240)


@pytest.fixture
def channel(tmp_path: Path) -> WebChannel:
    return WebChannel(Settings(_env_file=None, var_dir=tmp_path, max_media_bytes=1000))


def parse(channel: WebChannel, **form: str):
    return channel.parse({"nonce": new_nonce(), **form}, WebIdentity("a" * 43), bbox=BBOX, map_size=SIZE)


def test_text_button_and_points(channel: WebChannel) -> None:
    msg = parse(channel, text="  hay un bache  ")
    assert msg.channel == "web" and msg.text == "hay un bache" and msg.raw_kind == "text"
    assert msg.external_id == WebIdentity("a" * 43).external_id and "a" * 10 not in msg.external_id
    pressed = parse(channel, button="yes", button_title="Sí, enviar", text="ignored")
    assert pressed.button_payload == "yes" and pressed.text == "Sí, enviar"
    corner = parse(channel, **{"mapa.x": "0", "mapa.y": "0"})
    assert (corner.location.lat, corner.location.lon) == (26.0, -101.0)
    far = parse(channel, **{"mapa.x": "300", "mapa.y": "240"})
    assert (far.location.lat, far.location.lon) == (25.0, -100.0)
    exact = parse(channel, lat="25.5", lon="-100.25", text="also typed")
    assert exact.location.lat == 25.5 and exact.raw_kind == "location"


@pytest.mark.parametrize("form, key, words", [
    ({"text": ""}, "empty_text", "Escribe un mensaje"),
    ({"text": "x" * 1001}, "text_too_long", "muy largo (1001 caracteres); el máximo es 1000"),
    ({"lat": "nan", "lon": "1"}, "bad_location", "no es válida"),
    ({"lat": "inf", "lon": "1"}, "bad_location", "no es válida"),
    ({"lat": "91", "lon": "1"}, "bad_location", "no es válida"),
    ({"lat": "norte", "lon": "1"}, "bad_location", "no es válida"),
    ({"mapa.x": "-1", "mapa.y": "5"}, "point_outside_map", "fuera del mapa"),
    ({"mapa.x": "uno", "mapa.y": "5"}, "bad_map_point", "no es válido"),
    ({"foto": "../../etc/passwd"}, "photo_not_received", "No recibimos la foto"),
    ({"foto": "0" * 32}, "photo_not_received", "No recibimos la foto"),
])
def test_bad_values_are_refused_with_a_reason(channel: WebChannel, form: dict[str, str], key: str,
                                              words: str) -> None:
    with pytest.raises(FormRefused) as refused:
        parse(channel, **form)
    assert refused.value.key == key and isinstance(refused.value, BadRequest)
    assert words in Pages().macro_text(NOTICES, "form_error", key, **refused.value.values)


def test_the_nonce_is_the_idempotency_key(channel: WebChannel) -> None:
    identity = WebIdentity("b" * 43)
    nonce = new_nonce()
    one = channel.parse({"nonce": nonce, "text": "hola"}, identity, bbox=BBOX, map_size=SIZE)
    two = channel.parse({"nonce": nonce, "text": "hola"}, identity, bbox=BBOX, map_size=SIZE)
    other = channel.parse({"nonce": nonce, "text": "hola"}, WebIdentity("c" * 43), bbox=BBOX, map_size=SIZE)
    assert one.provider_message_id == two.provider_message_id != other.provider_message_id
    with pytest.raises(FormRefused, match="bad_nonce"):
        channel.parse({"nonce": "1234", "text": "hola"}, identity, bbox=BBOX, map_size=SIZE)


def test_uploads_are_capped_while_staged_and_read_once(channel: WebChannel) -> None:
    with pytest.raises(MediaRejected):
        channel.stage_upload(iter([b"x" * 600, b"x" * 600]))
    assert list(channel.staging_dir.iterdir()) == []  # nothing left behind
    with pytest.raises(FormRefused, match="empty_file"):
        channel.stage_upload(iter([b""]))
    staged = channel.stage_upload(iter([b"\x89PNG\r\n\x1a\n", b"rest"]))
    msg = parse(channel, foto=staged)
    (media,) = msg.media
    assert media.kind == "photo" and media.size_bytes == 12 and msg.raw_kind == "photo"
    with channel.fetch_media(media) as download:
        assert b"".join(download.chunks) == b"\x89PNG\r\n\x1a\nrest"
    assert not (channel.staging_dir / staged).exists()


def test_identities_are_opaque_and_cookies_checked() -> None:
    fresh = WebIdentity.new()
    assert WebIdentity.from_cookie(fresh.cookie) == fresh and len(fresh.cookie) >= 43
    assert WebIdentity.new().external_id != fresh.external_id and len(fresh.external_id) <= 64
    for bad in (None, "", "corto", "x" * 100, "a" * 40 + ";drop"):
        assert WebIdentity.from_cookie(bad) is None
