"""Browser tests: Playwright for Python driving Debian's Chromium against a live c360 server.

Playwright's own browser download does not work on the project's machines: the tests use
/usr/bin/chromium (``apt-get install chromium``; .ci/run installs it). Without it they are skipped
with that reason, and C360_NO_SKIPS=1 (CI) turns the skip into a failure.

Screenshots go to C360_SCREENSHOTS_DIR when it is set (``make screenshots`` writes docs/screenshots/).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import answers

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made here by the test
# itself (fixtures, assertions) are synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("C360_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server) -> Iterator[object]:
    """A fresh browser context in pt-BR; fails the test on any console error (CSP violations included)."""
    context = browser.new_context(locale="pt-BR", base_url=live_server.url, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"browser console errors: {errors}"


@pytest.fixture
def screenshot(page):
    """``screenshot("portal-consents")`` saves a full-page PNG when C360_SCREENSHOTS_DIR is set."""
    directory = os.environ.get("C360_SCREENSHOTS_DIR")

    def take(name: str) -> None:
        if directory:
            Path(directory).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)

    return take


@pytest.fixture
def workers(settings) -> Iterator[str]:
    """Celery workers for the live server's tasks: a real worker on the Redis broker when one answers
    (always in CI), else eager execution (a laptop without Redis, SQLite in memory)."""
    from django.db import connection

    broker_url = os.environ.get("C360_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
    if connection.vendor != "postgresql" or not answers(broker_url):
        if os.environ.get("C360_NO_SKIPS") == "1":
            pytest.fail("CI needs the real broker and PostgreSQL for the browser tests' workers")
        yield "eager"
        return
    from celery.contrib.testing.worker import start_worker

    from c360.celery import app

    def forget_connections() -> None:
        # Publishers cache their connection pools: drop them so sending follows the broker set now.
        # (Not app.close(): it also deregisters the app, and shared tasks imported later would miss it.)
        app._pool = None
        app.amqp._producer_pool = None

    previous = {key: app.conf[key] for key in ("broker_url", "task_always_eager", "result_backend")}
    app.conf.update(broker_url=broker_url, task_always_eager=False, result_backend=None)
    forget_connections()
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20, loglevel="WARNING"):
            yield "redis"
    finally:
        app.conf.update(previous)
        forget_connections()
