"""What a web handler may reach: the running ``Runtime`` (settings, session factory, catalog, renderer, ticket
service, wake-ups) and the page templates. One ``WebContext`` is built per app and handed to every area's
``routes(ctx)``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from web.templating import Pages

if TYPE_CHECKING:
    from reporta.runtime import Runtime


@dataclass(frozen=True)
class WebContext:
    """``runtime()`` returns the app's runtime (it exists once the lifespan started)."""

    runtime: Callable[[], Runtime]
    pages: Pages
