"""The Rasa engine against a fake ``/model/parse`` server on 127.0.0.1 returning Rasa 3.6's response JSON."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nlu.api import FALLBACK_INTENT, load_parser
from nlu.rasa import RasaParser, parse_rasa_response
from reporta.settings import Settings

TEXT = "ai un oyo enorme frente al oxxo de morelos"

# Shape of a Rasa 3.6 /model/parse answer (DIET + FallbackClassifier pipeline).
RASA_POTHOLE = {
    "text": TEXT,
    "intent": {"name": "pothole", "confidence": 0.9731},
    "entities": [
        {
            "entity": "landmark",
            "start": 17,
            "end": 31,
            "confidence_entity": 0.88,
            "value": "frente al oxxo",
            "extractor": "DIETClassifier",
        }
    ],
    "text_tokens": [[0, 2], [3, 5], [6, 9], [10, 16], [17, 23], [24, 26], [27, 31], [32, 34], [35, 42]],
    "intent_ranking": [
        {"name": "pothole", "confidence": 0.9731},
        {"name": "sidewalk", "confidence": 0.0142},
        {"name": "street_cleaning", "confidence": 0.0051},
        {"name": "sewer", "confidence": 0.0033},
    ],
    "response_selector": {
        "all_retrieval_intents": [],
        "default": {
            "response": {
                "responses": None,
                "confidence": 0.0,
                "intent_response_key": None,
                "utter_action": "utter_None",
            },
            "ranking": [],
        },
    },
}
RASA_FALLBACK = {
    "text": "qwerty",
    "intent": {"name": "nlu_fallback", "confidence": 0.7},
    "entities": [],
    "text_tokens": [[0, 6]],
    "intent_ranking": [
        {"name": "nlu_fallback", "confidence": 0.7},
        {"name": "out_of_scope", "confidence": 0.21},
        {"name": "greet", "confidence": 0.12},
        {"name": "help", "confidence": 0.1},
    ],
}


class FakeRasa:
    def __init__(self) -> None:
        self.delay = 0.0
        self.status = 200
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body})
                time.sleep(fake.delay)
                answer = RASA_POTHOLE if body["text"] == TEXT else {**RASA_FALLBACK, "text": body["text"]}
                data = json.dumps(answer).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_rasa() -> Iterator[FakeRasa]:
    server = FakeRasa()
    yield server
    server.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_parse_real_rasa_json() -> None:
    result = parse_rasa_response(TEXT, RASA_POTHOLE, threshold=0.45)
    assert result.intent == "pothole" and result.understood
    assert result.confidence == pytest.approx(0.9731)
    assert [n for n, _ in result.ranking][:3] == ["pothole", "sidewalk", "street_cleaning"]
    # The builtin landmark rule wins over the overlapping DIET entity.
    assert [(e.type, e.value) for e in result.entities] == [("landmark", "frente al oxxo de morelos")]


def test_rasa_fallback_intent_is_not_understood() -> None:
    result = parse_rasa_response("qwerty", RASA_FALLBACK, threshold=0.45)
    assert result.intent == FALLBACK_INTENT and not result.understood
    assert result.ranking[0][0] == "out_of_scope" and len(result.ranking) >= 3


def test_rasa_engine_uses_server(fake_rasa: FakeRasa, parser) -> None:
    rasa = RasaParser(fake_rasa.url, timeout=2.0, fallback=parser)
    result = rasa.parse(TEXT)
    assert result.intent == "pothole" and result.confidence == pytest.approx(0.9731)
    assert fake_rasa.requests == [{"path": "/model/parse", "body": {"text": TEXT}}]


def test_rasa_down_falls_back_to_builtin(parser) -> None:
    rasa = RasaParser(f"http://127.0.0.1:{free_port()}", timeout=0.5, fallback=parser)
    result = rasa.parse("se fundió el foco del poste")
    assert result.intent == "streetlight"
    assert result == parser.parse("se fundió el foco del poste")


def test_rasa_slow_times_out_and_stays_off(fake_rasa: FakeRasa, parser) -> None:
    fake_rasa.delay = 1.0
    rasa = RasaParser(fake_rasa.url, timeout=0.2, fallback=parser, retry_after=60)
    t0 = time.perf_counter()
    assert rasa.parse(TEXT).confidence != pytest.approx(0.9731)  # builtin answered
    assert time.perf_counter() - t0 < 0.9
    n = len(fake_rasa.requests)
    rasa.parse("hola")
    assert len(fake_rasa.requests) == n  # circuit open: Rasa not retried yet


def test_rasa_http_error_falls_back(fake_rasa: FakeRasa, parser) -> None:
    fake_rasa.status = 500
    rasa = RasaParser(fake_rasa.url, timeout=1.0, fallback=parser)
    assert rasa.parse("hay un bache").intent == "pothole"


def test_load_parser_rasa_engine(fake_rasa: FakeRasa, nlu_cache) -> None:
    from reporta.settings import DEFAULT_DATA_DIR

    settings = Settings(data_dir=DEFAULT_DATA_DIR, nlu_cache_dir=nlu_cache, nlu_engine="rasa", rasa_url=fake_rasa.url)
    parser = load_parser(settings)
    assert isinstance(parser, RasaParser)
    assert parser.parse(TEXT).confidence == pytest.approx(0.9731)
