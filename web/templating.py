"""Server-rendered pages: one Jinja2 environment over ``web/templates`` (autoescaped), ``Pages.render`` to answer
a request with a page. Page templates live here; citizen message templates stay in ``data/templates``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


class Pages:
    """The page templates; ``extra_dirs`` are searched first (a municipality's own look, then the defaults)."""

    def __init__(self, extra_dirs: list[Path] | None = None) -> None:
        dirs = [str(d) for d in (extra_dirs or []) if d.is_dir()] + [str(TEMPLATES_DIR)]
        self.env = Environment(
            loader=FileSystemLoader(dirs),
            autoescape=select_autoescape(["html", "xml", "svg"], default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def macro_text(self, name: str, macro: str, *args: Any, **kwargs: Any) -> str:
        """The text of ``macro`` of template ``name`` called with these arguments (short messages kept in a
        template, e.g. the console's form errors), stripped."""
        return str(getattr(self.env.get_template(name).module, macro)(*args, **kwargs)).strip()

    def render_text(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)

    def render(self, request: Request, name: str, context: dict[str, Any] | None = None, *,
               status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
        """The page ``name`` with ``context`` (``request`` is always available to the template)."""
        html = self.render_text(name, request=request, **(context or {}))
        return HTMLResponse(html, status_code=status_code, headers=headers)
