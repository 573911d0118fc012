"""Who is using the console: the contract between the console's sign-in (``web.console``, which owns accounts,
sessions and CSRF) and every other page behind the login (the dashboards of ``/console/tableros``).

The console's session middleware puts the signed-in staff member into the ASGI scope under ``SCOPE_KEY`` for
every ``/console`` request; pages read it with ``current_staff(request)`` and scope every query with
``StaffPrincipal.department_filter`` (an agent or supervisor sees only their department; an admin sees all).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse

SCOPE_KEY = "reporta.staff"
LOGIN_PATH = "/console/login"
ROLES = ("agent", "supervisor", "admin")


@dataclass(frozen=True, slots=True)
class StaffPrincipal:
    id: int
    email: str
    name: str
    role: str  # agent | supervisor | admin
    department_id: int | None
    department_code: str | None
    session_id: str  # the console session's opaque id (CSRF tokens are bound to it)
    department_name: str | None = None  # what staff read ("Secretaría de Obras Públicas"), not the code

    @property
    def sees_all(self) -> bool:
        return self.role == "admin"

    @property
    def department_filter(self) -> int | None:
        """The department every query must be limited to; None only for admins (they see everything)."""
        return None if self.sees_all else (self.department_id if self.department_id is not None else -1)


def current_staff(request: Request) -> StaffPrincipal | None:
    staff = request.scope.get(SCOPE_KEY)
    return staff if isinstance(staff, StaffPrincipal) else None


def login_redirect(request: Request) -> RedirectResponse:
    """Send a visitor without a session to the sign-in page, coming back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303)
