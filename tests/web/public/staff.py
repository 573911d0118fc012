"""Test-only: a tiny ASGI middleware that signs a fixed staff member in on every ``/console`` request, standing
in for the console's session middleware (which fills ``web.staff.SCOPE_KEY`` the same way)."""

from __future__ import annotations

from typing import Any

from web.staff import SCOPE_KEY, StaffPrincipal


class AsStaff:
    def __init__(self, app: Any, principal: StaffPrincipal | None) -> None:
        self.app = app
        self.principal = principal

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/console") and self.principal is not None:
            scope = {**scope, SCOPE_KEY: self.principal}
        await self.app(scope, receive, send)


def principal(runtime: Any, role: str, department: str | None) -> StaffPrincipal:
    from sqlalchemy import select

    from ticketing.models import Department

    dept_id = None
    if department is not None:
        with runtime.session_factory() as session:
            dept_id = session.scalars(select(Department.id).where(Department.code == department)).one()
    return StaffPrincipal(id=1, email=f"{role}@example.gob.mx", name=f"Prueba {role}", role=role,
                          department_id=dept_id, department_code=department, session_id="test-session")
