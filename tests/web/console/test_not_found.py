"""The console's own error page over HTTP: a signed-in member who opens a console URL that does not exist or is
not theirs (another department's ticket or conversation, a malformed folio, a mistyped path, a form's POST
address) stays inside the console's layout, with the same page whether the row exists elsewhere or not; without
a session nothing changes (the sign-in redirect, the public 404 page, plain text), so the console's layout never
reaches someone who is not signed in."""

from __future__ import annotations

from typing import Any

from reporta.runtime import Runtime
from tests.channels.conftest import AppServer, wait_until
from tests.web.console.conftest import Console, conversation_of, telegram_text
from tests.web.console.test_desk import make_ticket

MESSAGE = "No encontramos esta página o no tienes acceso a ella."
CHAT = 555000333


def console_nav(html: str) -> bool:
    return '<nav aria-label="Consola">' in html and 'action="/console/logout"' in html


def test_another_departments_rows_and_wrong_urls_get_one_console_page(
        web_app: AppServer, web_runtime: Runtime, staff: dict, console: Any) -> None:
    folio = make_ticket(web_runtime, description="Descripción reservada")  # a pothole: public works'
    telegram_text(web_app, CHAT, "hola")  # a conversation without a report: citizen attention's
    cid = wait_until(lambda: getattr(conversation_of(web_runtime, "telegram", str(CHAT)), "id", None), 15)
    ceci: Console = console(staff["services"].email)

    foreign = ceci.get(f"/console/tickets/{folio}")
    missing = ceci.get("/console/tickets/0000-0000")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.text == missing.text  # nothing tells that the folio exists in another department
    assert folio not in foreign.text and "reservada" not in foreign.text
    for path in (f"/console/inbox/{cid}", "/console/inbox/999999", "/console/inbox/no-es-id",
                 "/console/tickets/no-es-folio", "/console/algo-que-no-existe", "/console/tableros/nada.csv"):
        response = ceci.get(path)
        assert response.status_code == 404, path
        assert response.text == missing.text, path
    html = missing.text
    assert console_nav(html) and "Ceci Treviño · Secretaría de Servicios Públicos" in html
    assert MESSAGE in html and '<a href="/console/inbox">Volver a la bandeja</a>' in html
    assert "<title>Página no encontrada · Consola" in html
    assert "Revisa la dirección o vuelve al" not in html  # not the public site's page
    assert missing.headers["cache-control"] == "no-store"
    # a link's notice code does not make the page say something else
    assert ceci.get("/console/tickets/0000-0000?aviso=salida&error=refused").text == missing.text

    # the POST address of a form, opened in the address bar: 405 on the same page, with its Allow header
    not_allowed = ceci.get(f"/console/tickets/{folio}/status")
    assert not_allowed.status_code == 405 and not_allowed.headers["allow"] == "POST"
    assert not_allowed.text == missing.text
    assert ceci.get("/console/tickets/0000-0000/status").text == not_allowed.text
    # the admin sees every department: the ticket's own page
    assert console(staff["admin"].email).get(f"/console/tickets/{folio}").status_code == 200


def test_without_a_session_console_urls_answer_as_before(web_app: AppServer, web_runtime: Runtime,
                                                         staff: dict, console: Any) -> None:
    folio = make_ticket(web_runtime)
    anonymous: Console = console()
    for path in (f"/console/tickets/{folio}", "/console/tickets/0000-0000", "/console/inbox/999999",
                 "/console/tableros/nada.csv"):
        response = anonymous.get(path)
        assert response.status_code == 303, path  # a page of the console: to the sign-in page, and back
        assert response.headers["location"].startswith("/console/login?next=%2Fconsole%2F"), path
    for path in ("/console/algo-que-no-existe", "/console/inbox/no-es-id"):
        response = anonymous.get(path)  # no route: the public site's page
        assert response.status_code == 404 and "<h1>No encontramos esta página</h1>" in response.text, path
        assert MESSAGE not in response.text and not console_nav(response.text), path
        assert "Bandeja" not in response.text and "Consola" not in response.text, path
    not_allowed = anonymous.get(f"/console/tickets/{folio}/status")
    assert not_allowed.status_code == 405 and not_allowed.headers["allow"] == "POST"
    assert not_allowed.headers["content-type"].startswith("text/plain") and MESSAGE not in not_allowed.text
    # a revoked session is no session: the console's page is gone with it
    ana: Console = console(staff["works"].email)
    assert ana.get("/console/algo-que-no-existe").status_code == 404 and ana.post("/console/logout").status_code == 303
    after = ana.get("/console/algo-que-no-existe")
    assert after.status_code == 404 and MESSAGE not in after.text and not console_nav(after.text)
    assert "<h1>No encontramos esta página</h1>" in after.text


def test_a_refused_form_keeps_a_signed_in_member_inside_the_console(web_app: AppServer, web_runtime: Runtime,
                                                                    staff: dict, console: Any) -> None:
    folio = make_ticket(web_runtime)
    ana: Console = console(staff["works"].email)
    for response in (ana.post(f"/console/tickets/{folio}/note", {"note": "x"}, token="0" * 64),
                     ana.request("POST", f"/console/tickets/{folio}/note", data={"note": "x"},
                                 headers={"X-CSRF-Token": "f" * 64})):
        assert response.status_code == 403
        assert console_nav(response.text) and "Ana López" in response.text
        assert "<h1>Solicitud rechazada</h1>" in response.text
        assert "El formulario venció o no es válido." in response.text
        assert '<a href="/console/inbox">Volver a la bandeja</a>' in response.text
    too_much = b"x" * (web_runtime.settings.max_media_bytes + 2 * 1024 * 1024)
    big = ana.request("POST", f"/console/tickets/{folio}/note", content=too_much,
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413 and console_nav(big.text) and "El envío es demasiado grande." in big.text
    # without a session: the refusal shows nothing of the console
    anonymous: Console = console()
    response = anonymous.post(f"/console/tickets/{folio}/note", {"note": "x"}, token="0" * 64)
    assert response.status_code == 403 and "Tu sesión terminó." in response.text
    assert not console_nav(response.text) and "Bandeja" not in response.text
