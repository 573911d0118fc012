"""GSM-7 arithmetic and template lookup with channel variants."""

from __future__ import annotations

from pathlib import Path

from dialogue.render import Renderer, is_gsm7, sms_segments, to_gsm7


def test_gsm7_keeps_spanish_letters_it_has_and_folds_the_rest() -> None:
    assert is_gsm7("¿Qué pasó con el señor? ¡Gracias!") is False  # ó is not GSM-7
    assert to_gsm7("¿Qué pasó? Árbol, baño, güero") == "¿Qué paso? Arbol, baño, güero"
    assert is_gsm7(to_gsm7("Está en camión “rápido” — ya"))


def test_sms_segments() -> None:
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("está" + "a" * 66) == 1  # 70 UCS-2 units
    assert sms_segments("está" + "a" * 67) == 2
    assert sms_segments("€" * 80) == 1  # extension chars count double
    assert sms_segments("€" * 81) == 2


def test_channel_variant_then_default(tmp_path: Path) -> None:
    root = tmp_path / "es-MX"
    root.mkdir()
    (root / "hello.j2").write_text("Hola {{ name }}, ¿cómo estás?\n")
    (root / "hello.sms.j2").write_text("Hola {{ name }}\n\n\n\nSMS")
    r = Renderer(tmp_path)
    assert r.render("hello", "telegram", name="Ana") == "Hola Ana, ¿cómo estás?"
    assert r.render("hello", "sms", name="Ramón") == "Hola Ramon\n\nSMS"
    assert r.has("hello", "whatsapp") and not r.has("bye")
