from nlu.normalize import HEAD_CHARS, TAIL_CHARS, fold, normalize


def test_fold_keeps_length_and_strips_accents() -> None:
    text = "Calle Juárez Ñandú ÁRBOL 👍 İ"
    folded = fold(text)
    assert len(folded) == len(text)
    assert folded.startswith("calle juarez nandu arbol")


def test_normalize_sms_accents_repeats_and_phonetics() -> None:
    assert normalize("HOLAAAA!!!") == normalize("hola")
    assert normalize("ai un oyo") == normalize("hay un hoyo")
    assert normalize("x favor q vengan") == normalize("por favor que vengan")
    assert normalize("porfa") == normalize("por favor")
    assert normalize("vache") == normalize("bache")
    assert normalize("Sí") == normalize("si")


def test_normalize_emoji_and_numbers() -> None:
    assert normalize("💡 no prende") == normalize("foco no prende")
    assert normalize("1") == "1"
    assert normalize("lleva 30 dias") == "yeba num dias"
    assert "folionum" in normalize("folio 1234-5671")


def test_long_messages_are_truncated() -> None:
    out = normalize("bache " * 2000)
    assert len(out) <= HEAD_CHARS + TAIL_CHARS + 10
