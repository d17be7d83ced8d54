"""The dashboard in headless Chromium: log in by keyboard, send an email through the API,
open its timeline, open it and reply as the recipient in the catcher and see the reply
dispatched to the application's handler; hostile mail in every view runs no script; every
page readable at 1280 and 390 pixels wide (screenshots kept as artifacts)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx2

from browser.conftest import Site, unique
from browser.pages import WIDTHS, log_in, new_page, shoot
from dashboard.hostile import HTML_BODY, PWNED, SCRIPT, SUBJECT, hostile_message
from postroom.outbound.types import Timeouts
from postroom.store import catcher as catcher_store


def send(site: Site, to: str, user: int, **fields: Any) -> int:
    body = {
        "account": "catcher",
        "to": [{"address": to, "user": user}],
        "subject": "A new post in Gardening",
        "text": "Ada wrote a new post: https://example.org/posts/1\n\nReply to this email.",
        "html": '<p>Ada wrote <a href="https://example.org/posts/1">a new post</a>.</p>',
        "reply": {"handler": "forum", "data": {"topic": 3}},
    } | fields
    answer = httpx2.post(
        f"{site.url}/api/emails",
        json=body,
        headers={"Authorization": f"Bearer {site.token}"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    site.room.worker(concurrency=1, timeouts=Timeouts.uniform(5)).drain(timeout=30)
    return int(answer.json()["email_id"])


def caught_id(site: Site, recipient: str) -> int:
    with site.room.database.transaction() as tx:
        page = catcher_store.caught_page(tx, recipient=recipient, start=None, limit=5)
    [message] = page.items
    return message.id


def test_the_loop_in_the_browser(browser: Any, site: Site, artifacts: Path) -> None:
    ada = unique("ada")
    email_id = send(site, ada, 41)
    page = new_page(browser, site.url, 1280)
    log_in(page)
    page.get_by_role("link", name="A new post in Gardening").first.click()
    page.wait_for_url(re.compile(rf"/emails/{email_id}$"))
    assert page.get_by_role("heading", name=re.compile(re.escape(ada))).is_visible()
    assert "sent" in page.locator(".copy").inner_text()
    shoot(page, artifacts, "timeline", 1280)

    page.get_by_role("link", name="Mail catcher").click()
    page.get_by_role("link", name=re.compile(re.escape(ada))).first.click()
    page.get_by_role("link", name="A new post in Gardening").first.click()
    page.wait_for_url(re.compile(r"/catcher/messages/\d+$"))
    shoot(page, artifacts, "caught", 1280)
    # The pixel endpoint is not served by this composition: the catcher says so.
    page.get_by_role("button", name="Open it (as a person)").click()
    alert = page.get_by_role("alert")
    assert "the tracking endpoint refused" in alert.inner_text() or "could not fetch" in (
        alert.inner_text()
    )
    page.fill("#reply-text", "Lovely tomatoes!")
    page.get_by_role("button", name="Send the reply").click()
    status = page.get_by_role("status").inner_text()
    assert "dispatched" in status, status
    [reply] = [r for r in site.replies if r.user_id == 41]
    assert reply.text == "Lovely tomatoes!" and reply.session_data == {"topic": 3}

    page.get_by_role("link", name="Inbound").click()
    page.get_by_role("link", name=re.compile("Re: A new post in Gardening")).first.click()
    assert "Lovely tomatoes!" in page.locator("pre.reply").inner_text()
    shoot(page, artifacts, "inbound", 1280)
    page.goto(f"/emails/{email_id}")
    assert "replied" in page.locator(".copy").inner_text()
    assert page.dialogs == []


def test_hostile_mail_runs_no_script(browser: Any, site: Site, artifacts: Path) -> None:
    victim = unique("victim")
    email_id = send(site, victim, 42, subject=SUBJECT, html=HTML_BODY, text=SCRIPT)
    address = site.room.create_session("forum", user=43).address
    inbound = site.room.receive(hostile_message(address), recipients=(address,))
    caught = caught_id(site, victim)
    paths = {
        "emails": "/emails",
        "email": f"/emails/{email_id}",
        "events": "/events",
        "stats": "/stats",
        "inbound-list": "/inbound",
        "inbound-hostile": f"/inbound/{inbound.inbound_id}",
        "sessions": "/sessions",
        "suppressions": "/suppressions",
        "accounts": "/accounts",
        "webhooks": "/webhooks",
        "catcher": "/catcher",
        "caught-hostile": f"/catcher/messages/{caught}",
    }
    for width in WIDTHS:
        page = new_page(browser, site.url, width)
        log_in(page)
        for name, path in paths.items():
            page.goto(path)
            page.wait_for_load_state("load")
            assert page.title() != PWNED, f"a script ran on {path}"
            sandboxes = page.eval_on_selector_all(
                "iframe", "frames => frames.map(f => f.getAttribute('sandbox'))"
            )
            assert all(value == "" for value in sandboxes), (path, sandboxes)  # no allow-*
            assert page.evaluate("document.scripts.length") == 0, path
            shoot(page, artifacts, name, width)
        # The framed views opened on their own: their CSP sandbox still runs no script.
        page.set_default_timeout(10_000)
        for framed in (f"/catcher/messages/{caught}/body", f"/inbound/{inbound.inbound_id}/raw"):
            page.goto(framed)
            assert page.title() != PWNED, f"a script ran in {framed}"
        assert page.dialogs == [], page.dialogs
        page.context.close()
