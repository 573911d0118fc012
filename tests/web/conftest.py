"""Browser tests: Debian's Chromium driven by Playwright for Python, axe-core for accessibility, and the app
served on 127.0.0.1 over the fake providers.

- ``browser`` (one per run): ``/usr/bin/chromium`` headless (never ``playwright install``); missing Chromium is a
  skip locally and a failure with ``CI=true``.
- ``page``: a fresh context (es-MX) whose every request is checked: a request to any host but 127.0.0.1 is
  aborted and fails the test (the guard).
- ``assert_accessible(page)``: axe-core (bundled by axe-playwright-python, offline): no serious or critical
  violation.
- ``screenshot(page, name)``: with ``REPORTA_DOCS_SCREENSHOTS=1``, saves ``docs/img/<name>.png`` (the docs'
  screenshots come from these tests).
- ``web_runtime`` / ``web_app``: the whole runtime (both databases) and the app served on 127.0.0.1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from reporta.app import create_app
from reporta.runtime import Runtime
from reporta.settings import Settings
from tests.channels.conftest import (  # noqa: F401  (fixtures re-exported for the web tests)
    AppServer,
    channel_settings,
    fake_telegram,
    fake_twilio,
    nlu_cache,
)

CHROMIUM = Path(os.environ.get("REPORTA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
ALLOWED_HOSTS = {"127.0.0.1"}


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if _ci():
            pytest.fail(f"CI=true but {CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class HostGuard:
    """Aborts and records every request to a host outside ``ALLOWED_HOSTS``."""

    def __init__(self) -> None:
        self.blocked: list[str] = []

    def __call__(self, route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about") or parts.hostname in ALLOWED_HOSTS:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="es-MX", timezone_id="America/Mexico_City",
                                  viewport={"width": 1280, "height": 900})
    guard = HostGuard()
    context.route("**/*", guard)
    context.set_default_timeout(10_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not guard.blocked, f"the page asked for hosts other than 127.0.0.1: {guard.blocked}"
    assert not errors, f"JavaScript errors on the page: {errors}"


def assert_accessible(page: Any, *, context: Any = None) -> None:
    """axe-core on the current page: no serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, context=context)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    summary = [(v["id"], v["impact"], [n.get("target") for n in v.get("nodes", [])][:3]) for v in bad]
    assert not bad, f"accessibility violations on {page.url}: {summary}"


def screenshot(page: Any, name: str, *, full_page: bool = True) -> None:
    """Save docs/img/<name>.png when REPORTA_DOCS_SCREENSHOTS=1 (the docs' screenshots come from the tests)."""
    if os.environ.get("REPORTA_DOCS_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMG / f"{name}.png"), full_page=full_page)


@pytest.fixture
def web_runtime(channel_settings: Settings) -> Iterator[Runtime]:  # noqa: F811
    rt = Runtime.from_settings(channel_settings, migrate=False, dispatcher_options={"rate_limits": False})
    yield rt
    rt.close()


@pytest.fixture
def web_app(web_runtime: Runtime) -> Iterator[AppServer]:
    with AppServer(create_app(web_runtime)) as server:
        yield server
