"""Hostile mail in every view (script tags, event handlers, javascript: URLs, CR LF in
headers, bidi overrides, 10,000-character subjects): nothing reaches a page unescaped; and
every state-changing route refuses requests without a login, without the form's CSRF token,
or from another site. The browser tests check the same pages run no script."""

from __future__ import annotations

import re
import secrets

from starlette.routing import Route
from starlette.testclient import TestClient

from dashboard.conftest import board_app, csrf_of
from dashboard.hostile import HTML_BODY, LONG, RTL, SCRIPT, SUBJECT, assert_inert, hostile_message
from postroom.access.tokens import Scope, create_token
from postroom.app import Postroom
from postroom.store import catcher as catcher_store
from postroom.store import repos
from postroom.web.dashboard import dashboard_routes
from postroom.web.dashboard.shell import FRAMED_POLICY


def hostile_data(room: Postroom, client: TestClient) -> dict[str, int]:
    """One of each: an email with a hostile subject, a hostile inbound reply, a hostile
    caught message, a hostile event."""
    token = create_token(
        room.database, f"h-{secrets.token_hex(4)}", frozenset({Scope("send")}), now=room.clock()
    ).token
    sent = client.post(
        "/api/emails",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "account": "main",
            "to": [{"address": "victim@example.net", "name": f"{SCRIPT}{RTL}"}],
            "subject": SUBJECT,
            "text": "x",
            "html": HTML_BODY,
        },
    )
    assert sent.status_code == 202, sent.text
    email_id = int(sent.json()["email_id"])
    address = room.create_session("forum", user=5, data={"n": SCRIPT}).address
    raw = hostile_message(address)
    result = room.receive(raw, recipients=(address,))
    assert result.inbound_id is not None
    with room.database.transaction() as tx:
        caught_id = catcher_store.insert_caught(
            tx,
            received_at=room.clock(),
            mail_from=f"{SCRIPT}@example.org",
            recipient=f"{RTL}victim@example.net",
            message_id=f"<{SCRIPT}>",
            subject=SUBJECT + "\r\nBcc: x@example.org",
            from_header=f'"{SCRIPT}" <evil@example.org>',
            raw=raw,
        )
        repos.add_event(
            tx,
            type="clicked",
            occurred_at=room.clock(),
            email_id=email_id,
            recipient=f"{RTL}{SCRIPT}@example.net",
            machine=None,
            data={"url": "javascript:alert(1)", "agent": SCRIPT, "label": SCRIPT},
        )
    return {"email": email_id, "inbound": result.inbound_id, "caught": caught_id}


def test_hostile_mail_is_inert_in_every_view(client: TestClient, board_room: Postroom) -> None:
    ids = hostile_data(board_room, client)
    pages = [
        "/emails",
        f"/emails/{ids['email']}",
        "/emails?q=" + "Quarterly",
        "/events",
        "/stats",
        "/inbound",
        f"/inbound/{ids['inbound']}",
        "/sessions",
        "/suppressions",
        "/catcher",
        f"/catcher/messages/{ids['caught']}",
    ]
    for path in pages:
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert_inert(answer.text)
    detail = client.get(f"/emails/{ids['email']}").text
    assert "&lt;script&gt;document.title=" in detail  # shown, as text
    assert LONG in detail  # the whole subject on its own page ...
    assert LONG not in client.get("/emails").text  # ... cut in the list
    assert "&lt;U+202E&gt;" in detail
    inbound = client.get(f"/inbound/{ids['inbound']}").text
    assert "\u240d\u240aBcc" in inbound  # the encoded CR LF shown as what it is
    for framed in (
        f"/inbound/{ids['inbound']}/raw",
        f"/catcher/messages/{ids['caught']}/raw",
        f"/catcher/messages/{ids['caught']}/body",
    ):
        answer = client.get(framed)
        assert answer.headers["content-security-policy"] == FRAMED_POLICY, framed
        assert "sandbox" in FRAMED_POLICY and "script" not in FRAMED_POLICY
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert (
        client.get(f"/inbound/{ids['inbound']}/raw")
        .headers["content-type"]
        .startswith("text/plain")
    )
    caught_page = client.get(f"/catcher/messages/{ids['caught']}").text
    for frame in re.findall(r"<iframe[^>]*>", caught_page):
        assert " sandbox " in frame or frame.endswith(" sandbox>") or "sandbox src" in frame


def _post_routes(room: Postroom) -> list[str]:
    paths = []
    for route in dashboard_routes(room):
        assert isinstance(route, Route)
        if "POST" in (route.methods or ()) and route.path != "/login":
            paths.append(
                route.path.replace("{suppression_id:int}", "1")
                .replace("{inbound_id:int}", "1")
                .replace("{session_id:int}", "1")
                .replace("{caught_id:int}", "1")
                .replace("{action}", "reply")
            )
    return paths


def test_every_state_changing_route_needs_login_csrf_and_same_origin(
    client: TestClient, board_room: Postroom
) -> None:
    paths = _post_routes(board_room)
    assert len(paths) == 5  # logout, lift, replay, expire, the catcher's actions
    token = csrf_of(client.get("/emails").text)
    with TestClient(board_app(board_room), follow_redirects=False) as anonymous:
        for path in paths:
            assert anonymous.post(path, data={"csrf": token}).status_code == 401, path
    for path in paths:
        assert client.post(path, data={}).status_code == 403, path
        assert client.post(path, data={"csrf": "x" * 43}).status_code == 403, path
        crossed = client.post(path, data={"csrf": token}, headers={"Origin": "https://evil.test"})
        assert crossed.status_code == 403, path
        assert "another site" in crossed.text
    assert client.get("/emails").status_code == 200  # still logged in: logout was refused
