"""What every browser test does with a page: open one at a width, log in by keyboard, take
a screenshot (and check nothing is wider than the window)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dashboard.conftest import PASSWORD, USER

WIDTHS = (1280, 390)


def new_page(browser: Any, base_url: str, width: int) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=base_url)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    return page


def log_in(page: Any) -> None:
    page.goto("/emails")
    assert "/login" in page.url
    assert page.evaluate("document.activeElement.id") == "username"  # autofocus
    page.keyboard.type(USER)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"^http://[^/]+/emails$"))
    page.keyboard.press("Tab")  # the skip link comes first on every page
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def shoot(page: Any, artifacts: Path, name: str, width: int) -> None:
    page.screenshot(path=str(artifacts / f"{name}-{width}.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{name} at {width} px is {overflow} px wider than the window"
