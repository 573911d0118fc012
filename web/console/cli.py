"""``reporta staff``: console accounts. ``add EMAIL --name N --department D --role agent|supervisor|admin``,
``list``, ``disable EMAIL`` (ends their sessions), ``reset-password EMAIL`` (ends their sessions too).

A password comes from a hidden prompt (typed twice), from ``--password-stdin`` (one line), or, with
``--generate``, is generated and printed once. Exit codes: 0 done; 1 refused (unknown account, e-mail in use,
weak password); 2 bad usage.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import typer
from sqlalchemy import func, select

from reporta.settings import get_settings
from web.console import passwords, sessions
from web.staff import ROLES

staff_app = typer.Typer(help="Staff console accounts (sign-in for /console).", no_args_is_help=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _session() -> Iterator[Any]:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from ticketing.db import one_off_session

    try:
        with one_off_session(get_settings().database_url) as session:
            yield session
    except (OperationalError, ProgrammingError) as exc:
        raise _fail(f"database not ready ({exc.orig}); run `reporta db upgrade`") from None


def _find(session: Any, email: str) -> Any:
    from ticketing.models import StaffUser

    user = session.scalars(select(StaffUser).where(func.lower(StaffUser.username) == email.strip().lower())
                           ).one_or_none()
    if user is None:
        raise _fail(f"no staff account {email!r}")
    return user


def _password(stdin: bool, generate: bool) -> tuple[str, bool]:
    """(password, generated)."""
    if stdin and generate:
        raise _fail("use --password-stdin or --generate, not both", 2)
    if generate:
        return passwords.generate_password(), True
    if stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise _fail("no password on standard input")
        return line, False
    if not sys.stdin.isatty():
        raise _fail("no terminal to prompt for the password: use --password-stdin or --generate", 2)
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True), False


def _valid_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@") or len(email) > 80 or " " in email:
        raise _fail(f"{email!r} is not an e-mail address", 2)
    return email


@staff_app.command("add")
def staff_add(
    email: str = typer.Argument(..., help="The staff member's e-mail (their sign-in name)."),
    name: str = typer.Option(..., "--name", help="Full name, as citizens and colleagues read it."),
    department: str = typer.Option(None, "--department", help="Department code from the catalog (not for admin)."),
    role: str = typer.Option("agent", "--role", help="agent | supervisor | admin."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
    generate: bool = typer.Option(False, "--generate", help="Generate a password and print it once."),
) -> None:
    """Create a console account."""
    from ticketing.models import Department, StaffUser

    email = _valid_email(email)
    if role not in ROLES:
        raise _fail(f"role must be one of {', '.join(ROLES)}", 2)
    if role != "admin" and not department:
        raise _fail("agents and supervisors need --department (admins see every department)", 2)
    password, generated = _password(password_stdin, generate)
    try:
        hashed = passwords.hash_password(password)
    except passwords.WeakPassword as exc:
        raise _fail(str(exc)) from None
    with _session() as session:
        department_id = None
        if department:
            from ticketing.catalog import load_catalog, sync_departments

            sync_departments(session, load_catalog(get_settings().catalog_path))
            department_id = session.scalar(select(Department.id).where(Department.code == department))
            if department_id is None:
                known = ", ".join(session.scalars(select(Department.code).order_by(Department.code)))
                raise _fail(f"unknown department {department!r}; known: {known}")
        if session.scalar(select(StaffUser.id).where(func.lower(StaffUser.username) == email)) is not None:
            raise _fail(f"{email} already has an account")
        session.add(StaffUser(username=email, display_name=name.strip(), role=role, department_id=department_id,
                              password_hash=hashed, active=True, created_at=datetime.now(UTC)))
    typer.echo(f"added {email} ({role}{', ' + department if department else ''})")
    if generated:
        typer.echo(f"password (shown once): {password}")


@staff_app.command("list")
def staff_list() -> None:
    """Every account: e-mail, name, role, department, active."""
    from ticketing.models import Department, StaffUser

    with _session() as session:
        rows = session.execute(select(StaffUser, Department.code).outerjoin(
            Department, Department.id == StaffUser.department_id).order_by(StaffUser.username)).all()
        for user, code in rows:
            state = "active" if user.active else "disabled"
            typer.echo(f"{user.username}\t{user.display_name}\t{user.role}\t{code or '-'}\t{state}")


@staff_app.command("disable")
def staff_disable(email: str = typer.Argument(..., help="The account's e-mail.")) -> None:
    """Disable an account and end all its sessions at once."""
    with _session() as session:
        user = _find(session, email)
        user.active = False
        ended = sessions.revoke_all(session, user.id, datetime.now(UTC))
    typer.echo(f"disabled {email}; {ended} session(s) ended")


@staff_app.command("reset-password")
def staff_reset_password(
    email: str = typer.Argument(..., help="The account's e-mail."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
    generate: bool = typer.Option(False, "--generate", help="Generate a password and print it once."),
) -> None:
    """Set a new password (ends the account's sessions)."""
    password, generated = _password(password_stdin, generate)
    try:
        hashed = passwords.hash_password(password)
    except passwords.WeakPassword as exc:
        raise _fail(str(exc)) from None
    with _session() as session:
        user = _find(session, email)
        user.password_hash = hashed
        ended = sessions.revoke_all(session, user.id, datetime.now(UTC))
    typer.echo(f"password changed for {email}; {ended} session(s) ended")
    if generated:
        typer.echo(f"password (shown once): {password}")


def register(app: typer.Typer) -> None:
    app.add_typer(staff_app, name="staff")
