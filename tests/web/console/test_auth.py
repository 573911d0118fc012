"""Signing in and out over HTTP: session ids, cookies, CSRF, throttling, disabling, argon2 rehash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import func, select, update

from reporta.runtime import Runtime
from tests.web.console.conftest import PASSWORD, Console
from ticketing.models import LoginAttempt, StaffSession, StaffUser
from web.console import sessions


def test_login_sets_a_new_secure_session_and_logout_revokes_it(web_runtime: Runtime, staff: dict, console: Any
                                                                ) -> None:
    client: Console = console()
    page = client.get("/console/inbox")
    assert page.status_code == 303 and page.headers["location"].startswith("/console/login?next=")
    form = client.get("/console/login")
    assert form.status_code == 200 and "Entrar a la consola" in form.text
    client.jar["__Host-reporta_console"] = "planted-by-someone-else"  # session fixation attempt
    response = client.login(staff["works"].email)
    assert response.status_code == 303 and response.headers["location"] == "/console/inbox"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("__Host-reporta_console="))
    for attribute in ("HttpOnly", "SameSite=Lax", "Secure", "Path=/"):
        assert attribute in cookie
    raw = client.session_id()
    assert raw and raw != "planted-by-someone-else"
    with web_runtime.session_factory() as s:  # only the id's digest is stored
        assert s.get(StaffSession, sessions.digest(raw)) is not None
        assert s.scalar(select(func.count()).select_from(StaffSession).where(StaffSession.id == raw)) == 0
    assert client.get("/console/inbox").status_code == 200
    second = console(staff["works"].email)  # another browser: another id
    assert second.session_id() not in (None, raw)
    keep = dict(client.jar)
    assert client.post("/console/logout").status_code == 303
    with web_runtime.session_factory() as s:
        assert s.get(StaffSession, sessions.digest(raw)).revoked_at is not None
    assert second.get("/console/inbox").status_code == 200  # signing out one browser leaves the other
    client.jar["__Host-reporta_console"] = keep["__Host-reporta_console"]  # a copied cookie stays dead
    assert client.get("/console/inbox").status_code == 303


def test_wrong_password_and_lockout_with_a_clear_message(web_runtime: Runtime, staff: dict, console: Any) -> None:
    client: Console = console()
    for _ in range(4):
        bad = client.login(staff["works"].email, "no-es-la-clave")
        assert bad.status_code == 401 and "no son correctos" in bad.text
    fifth = client.login(staff["works"].email, "no-es-la-clave")
    assert fifth.status_code == 401 and "bloqueado 15 minutos" in fifth.text
    locked = client.login(staff["works"].email)  # even the right password waits
    assert locked.status_code == 401 and "bloqueado" in locked.text and client.session_id() is None
    other = console()
    assert other.login(staff["services"].email).status_code == 303  # other accounts are not locked
    with web_runtime.session_factory() as s:  # 16 minutes later the account may try again
        for attempt in s.scalars(select(LoginAttempt)):
            attempt.created_at = attempt.created_at - timedelta(minutes=16)
        s.commit()
    assert client.login(staff["works"].email).status_code == 303


def test_per_address_throttle(staff: dict, console: Any) -> None:
    client: Console = console()
    for n in range(20):
        client.login(f"nadie{n}@municipio.gob.mx", "x" * 12)
    blocked = client.login(staff["works"].email)
    assert blocked.status_code == 401 and "bloqueado" in blocked.text


def test_login_form_without_or_with_a_wrong_csrf_token_is_refused(web_runtime: Runtime, staff: dict,
                                                                  console: Any) -> None:
    client: Console = console()
    client.get("/console/login")
    missing = client.post("/console/login", {"email": staff["works"].email, "password": PASSWORD}, token="")
    wrong = client.post("/console/login", {"email": staff["works"].email, "password": PASSWORD}, token="0" * 64)
    assert missing.status_code == 403 and wrong.status_code == 403 and client.session_id() is None
    with web_runtime.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(LoginAttempt)) == 0


def test_disabling_ends_sessions_and_idle_or_old_sessions_expire(web_runtime: Runtime, staff: dict,
                                                                 console: Any) -> None:
    ana: Console = console(staff["works"].email)
    ceci: Console = console(staff["services"].email)
    assert ana.get("/console/tickets").status_code == 200
    with web_runtime.session_factory() as s:
        user = s.get(StaffUser, staff["works"].id)
        user.active = False
        sessions.revoke_all(s, user.id, datetime.now(UTC))
        s.commit()
    assert ana.get("/console/tickets").status_code == 303
    assert ana.login(staff["works"].email).status_code == 401  # a disabled account cannot sign in
    # idle for 31 minutes
    with web_runtime.session_factory() as s:
        s.execute(update(StaffSession).where(StaffSession.staff_id == staff["services"].id)
                  .values(last_seen_at=datetime.now(UTC) - timedelta(minutes=31)))
        s.commit()
    assert ceci.get("/console/tickets").status_code == 303
    assert ceci.login(staff["services"].email).status_code == 303
    with web_runtime.session_factory() as s:  # past the absolute limit, however active
        s.execute(update(StaffSession).where(StaffSession.staff_id == staff["services"].id)
                  .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        s.commit()
    assert ceci.get("/console/tickets").status_code == 303


def test_old_argon2_parameters_are_rehashed_at_login(web_runtime: Runtime, staff: dict, console: Any) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with web_runtime.session_factory() as s:
        s.get(StaffUser, staff["works"].id).password_hash = weak
        s.commit()
    assert console(staff["works"].email).session_id()
    with web_runtime.session_factory() as s:
        stored = s.get(StaffUser, staff["works"].id).password_hash
    assert stored != weak and stored.startswith("$argon2id$") and "m=8192" not in stored


def test_the_gate_covers_every_console_path(web_app: Any, staff: dict, console: Any) -> None:
    """Paths of other areas behind the login (e.g. /console/tableros) get the same gate: no session or no token
    → 403 for a state-changing request; a guessed page still answers the Spanish 404."""
    anonymous: Console = console()
    assert anonymous.post("/console/tableros/algo", {"x": "1"}, token="").status_code == 403
    assert anonymous.get("/console/no-existe").status_code == 404
    ana: Console = console(staff["works"].email)
    assert ana.post("/console/tableros/algo", {"x": "1"}, token="").status_code == 403
    assert ana.post("/console/tableros/algo", {"x": "1"}).status_code == 404  # token ok: reaches the router
    assert ana.get("/console").headers["location"] == "/console/inbox"


def test_the_header_names_the_department_in_words(staff: dict, console: Any) -> None:
    # Walk-through: the header showed "servicios_publicos", the catalog code, to staff.
    page = console(staff["services"].email).get("/console/tickets").text
    assert "Ceci Treviño · Secretaría de Servicios Públicos" in page and "servicios_publicos</span>" not in page
    assert "Admin General · todas las dependencias" in console(staff["admin"].email).get("/console/tickets").text
