"""Headless Chromium from the Debian package, driven by Playwright (no browser download)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from support import free_port, require_binary

from bytedb_exporter.web.dashboard import Dashboard

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def chromium_page() -> Iterator[tuple[object, list[str]]]:
    """A fresh page and the list that collects its console errors and page errors."""
    executable = require_binary("chromium", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page, errors
        finally:
            browser.close()


@contextlib.contextmanager
def dashboard_page(dashboard: Dashboard) -> Iterator[tuple[Any, str, list[str], list[str]]]:
    """(page, url, errors, dialogs): the dashboard served on a free port and a page to open on it; every
    JavaScript dialog (what an injected alert() would open) is recorded in `dialogs` and dismissed."""
    url = dashboard.start(free_port())
    try:
        with chromium_page() as (page, errors):
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            yield page, url, errors, dialogs
    finally:
        dashboard.stop()
