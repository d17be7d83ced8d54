"""Acceptance 1 on what ``postroom demo`` serves (tracking endpoints, API, dashboard, catcher
views, the forum example and its page, the worker in a thread, all on one SQLite database):
log in, send an email from the API, open its timeline, prefetch it as Apple Mail Privacy
Protection and open it as a person from the catcher, reply as the recipient, and see the
open counted as a person's, the prefetch as a machine's and the reply as a forum post.
Screenshots at 1280 and 390 pixels go to tests/artifacts/browser/."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from browser.conftest import unique
from browser.pages import WIDTHS, log_in, new_page, shoot
from dashboard.conftest import PASSWORD, USER
from postroom.access.tokens import Scope, create_token
from postroom.access.users import add_user
from postroom.demo.live import started
from postroom.demo.site import Site
from postroom.store import catcher as catcher_store


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, str]]:
    workdir = tmp_path_factory.mktemp("demo") / "d"
    with started(workdir, worker=True, out=lambda _line: None) as site:
        add_user(site.room.database, USER, PASSWORD, now=site.room.clock())
        token = create_token(
            site.room.database, "browser", frozenset({Scope("send"), Scope("read")}),
            now=site.room.clock(),
        ).token  # fmt: skip
        yield site, token


def caught_for(site: Site, recipient: str, timeout: float = 30.0) -> int:
    """The catcher's id of the copy the worker delivers to ``recipient``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with site.room.database.transaction() as tx:
            page = catcher_store.caught_page(tx, recipient=recipient, start=None, limit=5)
        if page.items:
            return page.items[0].id
        time.sleep(0.1)
    raise AssertionError(f"no copy to {recipient} reached the catcher within {timeout:g} s")


def click_and_read_status(page: Any, button: str) -> str:
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state("load")
    return str(page.get_by_role("status").inner_text())


def test_the_demo_loop_in_the_browser(
    browser: Any, demo: tuple[Site, str], artifacts: Path
) -> None:
    site, token = demo
    forum = site.forum
    author = forum.join("Ada Lovelace", unique("ada"))
    topic = forum.start_topic("Tomatoes", author.id, "How are yours doing this year?")
    address = unique("bob")
    bob = forum.join("Bob", address)
    answer = httpx2.post(
        f"{site.url}/api/emails",
        json={
            "account": "catcher",
            "to": [{"address": address, "name": "Bob", "user": bob.id}],
            "subject": "Tomatoes: a question for you",
            "text": "Ada asks: how are yours? https://example.org/topics/1\n\nReply to post.",
            "html": '<p>Ada asks: <a href="https://example.org/topics/1">how are yours</a>?</p>',
            "reply": {"handler": "forum", "data": {"topic": topic.id}},
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    email_id = int(answer.json()["email_id"])
    caught = caught_for(site, address)
    delivered = time.monotonic()

    page = new_page(browser, site.url, 1280)
    log_in(page)
    page.get_by_role("link", name="Tomatoes: a question for you").first.click()
    page.wait_for_url(re.compile(rf"/emails/{email_id}$"))
    assert "sent" in page.locator(".copy").inner_text()

    page.goto(f"/catcher/messages/{caught}")
    status = click_and_read_status(page, "Prefetch it (as Apple Mail Privacy Protection)")
    assert "answered 200" in status, status
    # A person's open counts only after the demo's machine window (2 s; 15 by default) since
    # delivery: before it, a fetch is taken for a scanner's or a prefetch.
    window = site.room.settings.tracking.machine_window.total_seconds()
    time.sleep(max(0.0, delivered + window + 0.5 - time.monotonic()))
    status = click_and_read_status(page, "Open it (as a person)")
    assert "answered 200" in status, status
    page.fill("#reply-text", "Mine are finally red!")
    status = click_and_read_status(page, "Send the reply")
    assert "dispatched" in status, status

    page.goto(f"/emails/{email_id}")
    timeline = page.locator(".copy").inner_text()
    assert "opened by a person" in timeline, timeline
    assert "opened by a machine (apple_privacy)" in timeline, timeline
    assert "replied" in timeline, timeline
    opened = page.locator("dd.engagement").inner_text()
    assert opened.startswith("1 of 1 by a person, 1 at all · first by a person"), opened
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        shoot(page, artifacts, "demo-timeline", width)

    page.goto("/forum")
    post = page.locator("article.post").filter(has_text="Mine are finally red!")
    assert post.count() == 1
    assert "Bob" in post.inner_text() and "by email" in post.inner_text()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        shoot(page, artifacts, "demo-forum", width)
    assert page.dialogs == []
    page.context.close()
