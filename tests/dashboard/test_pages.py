"""The dashboard's pages through Starlette's test client, on each backend: login, every
view with real data (an email sent through the API, replies and bounces through the
inbound pipeline, opens recorded as events), search, pages, and the security headers."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from starlette.testclient import TestClient

from dashboard.conftest import PASSWORD, USER, csrf_of, log_in
from postroom.access.tokens import Scope, create_token
from postroom.app import Postroom
from postroom.store import repos
from postroom.web.dashboard.shell import FRAMED_POLICY, PAGE_POLICY
from support.messages import bounce, reply


def api_headers(room: Postroom) -> dict[str, str]:
    issued = create_token(
        room.database, f"t-{secrets.token_hex(4)}", frozenset({Scope("send")}), now=room.clock()
    )
    return {"Authorization": f"Bearer {issued.token}"}


def send(client: TestClient, room: Postroom, to: str, subject: str) -> int:
    answer = client.post(
        "/api/emails",
        headers=api_headers(room),
        json={"account": "main", "to": [to], "subject": subject, "text": "Hello"},
    )
    assert answer.status_code == 202, answer.text
    return int(answer.json()["email_id"])


def test_pages_need_a_login(anonymous: TestClient) -> None:
    for path in (
        "/",
        "/emails",
        "/emails/1",
        "/events",
        "/stats",
        "/inbound",
        "/inbound/1",
        "/inbound/1/raw",
        "/suppressions",
        "/sessions",
        "/accounts",
        "/webhooks",
        "/catcher",
        "/catcher/messages/1",
        "/catcher/messages/1/raw",
        "/catcher/messages/1/body",
    ):
        answer = anonymous.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next="), path


def test_login_refuses_wrong_passwords_and_forms_without_a_token(board_room: Postroom) -> None:
    from dashboard.conftest import board_app

    with TestClient(board_app(board_room), follow_redirects=False) as client:
        token = csrf_of(client.get("/login").text)
        wrong = client.post("/login", data={"username": USER, "password": "x" * 20, "csrf": token})
        assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
        bare = client.post("/login", data={"username": USER, "password": PASSWORD})
        assert bare.status_code == 403
        forged = client.post(
            "/login", data={"username": USER, "password": PASSWORD, "csrf": "A" * 43}
        )
        assert forged.status_code == 403
        assert client.get("/emails").status_code == 303  # still logged out
        away = client.post(
            "/login",
            data={"username": USER, "password": PASSWORD, "csrf": token, "next": "//evil.test/"},
        )
        assert away.status_code == 303 and away.headers["location"] == "/emails"
        cookie = away.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert client.get("/emails").status_code == 200
        logout = client.post("/logout", data={"csrf": csrf_of(client.get("/emails").text)})
        assert logout.status_code == 303
        assert client.get("/emails").status_code == 303


def test_a_forged_or_stale_cookie_is_no_login(board_room: Postroom) -> None:
    from dashboard.conftest import board_app

    with TestClient(board_app(board_room), follow_redirects=False) as client:
        client.cookies.set("postroom_session", "eyJ1IjoxfQ.AAAA")
        assert client.get("/emails").status_code == 303
        log_in(client)
        assert client.get("/emails").status_code == 200
        board_room.clock.advance(hours=13)  # type: ignore[attr-defined]
        try:
            assert client.get("/emails").status_code == 303  # past SESSION_AGE
        finally:
            board_room.clock.advance(hours=-13)  # type: ignore[attr-defined]


def test_every_page_has_the_policy(client: TestClient) -> None:
    for path in ("/emails", "/events", "/stats", "/inbound", "/sessions", "/login"):
        answer = client.get(path)
        assert answer.headers["content-security-policy"] == PAGE_POLICY
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "script" not in PAGE_POLICY  # no script source at all: default-src 'none'


def test_emails_list_search_and_timeline(client: TestClient, board_room: Postroom) -> None:
    address = f"ada-{secrets.token_hex(3)}@example.net"
    email_id = send(client, board_room, address, "Quarterly <b>report</b>")
    with board_room.database.transaction() as tx:
        copy = board_room.email(email_id).copies[0]
        for machine in (False, True):
            repos.add_event(
                tx,
                type="opened",
                occurred_at=board_room.clock(),
                email_id=email_id,
                delivery_id=copy.id,
                recipient=address,
                machine=machine,
                data={},
            )
    listed = client.get("/emails").text
    assert f'href="/emails/{email_id}"' in listed
    assert "Quarterly &lt;b&gt;report&lt;/b&gt;" in listed
    assert "1 opened by a person" in listed and "1 opened by a machine" in listed
    for query in (address, address.upper(), "Quarterly", copy.message_id):
        found = client.get("/emails", params={"q": query}).text
        assert f'href="/emails/{email_id}"' in found, query
    assert f'href="/emails/{email_id}"' not in client.get("/emails", params={"q": "nothing"}).text
    timeline = client.get(f"/emails/{email_id}").text
    assert address in timeline and "queued" in timeline
    assert "opened by a person" in timeline and "opened by a machine" in timeline
    events = client.get("/events", params={"recipient": address, "type": "opened"}).text
    assert events.count("opened by a") == 2
    assert client.get("/emails/999999").status_code == 404


def test_pages_of_emails_follow_the_cursor(client: TestClient, board_room: Postroom) -> None:
    tag = secrets.token_hex(3)
    for n in range(53):
        send(client, board_room, f"p{n}-{tag}@example.net", f"page {tag} {n}")
    first = client.get("/emails", params={"q": tag}).text
    older = re.search(r'href="(/emails\?[^"]+)" rel="next"', first)
    assert older is not None
    second = client.get(older.group(1).replace("&amp;", "&")).text
    seen = re.findall(rf"page {tag} (\d+)", first) + re.findall(rf"page {tag} (\d+)", second)
    assert sorted(map(int, seen)) == list(range(53))


def test_inbound_raw_reply_and_replay(client: TestClient, board_room: Postroom) -> None:
    address = board_room.create_session("forum", user=12, data={"topic": 1}).address
    result = board_room.receive(reply(address, "I will come.\n\nOn Mon, Bob wrote:\n> 5?\n"))
    assert result.inbound_id is not None
    listed = client.get("/inbound", params={"outcome": "dispatched"}).text
    assert f'href="/inbound/{result.inbound_id}"' in listed
    page = client.get(f"/inbound/{result.inbound_id}").text
    assert f'src="/inbound/{result.inbound_id}/raw"' in page and "sandbox" in page
    assert "I will come." in page and "dispatched" in page
    raw = client.get(f"/inbound/{result.inbound_id}/raw")
    assert raw.headers["content-type"].startswith("text/plain")
    assert raw.headers["content-security-policy"] == FRAMED_POLICY
    assert b"I will come." in raw.content
    replayed = client.post(
        f"/inbound/{result.inbound_id}/replay", data={"csrf": csrf_of(page), "mode": "dry_run"}
    )
    assert replayed.status_code == 200 and "Replay: <strong>dispatched" in replayed.text
    refused = client.post(
        f"/inbound/{result.inbound_id}/replay", data={"csrf": csrf_of(page), "mode": "replay"}
    )
    assert "was handled already" in refused.text


def test_bounces_stats_and_suppressions(client: TestClient, board_room: Postroom) -> None:
    user = 900 + secrets.randbelow(10_000)
    victim = f"gone-{secrets.token_hex(3)}@example.net"
    for n in range(3):
        issued = board_room.create_session("forum", user=user, address=victim)
        board_room.receive(
            bounce(issued.address, failed=victim, mid=f"b{n}-{secrets.token_hex(3)}"),
            recipients=(issued.address,),
            sender="",
        )
    stats = client.get("/stats").text
    assert "<svg" in stats and "Opens per day" in stats
    assert "userunknown" in stats and "hard" in stats
    assert f'href="/sessions?user={user}"' in stats
    listed = client.get("/suppressions", params={"address": victim}).text
    lift = re.search(r'action="/suppressions/(\d+)/lift"', listed)
    assert lift is not None, listed
    lifted = client.post(lift.group(0)[8:-1], data={"csrf": csrf_of(listed)})
    assert lifted.status_code == 200 and "lifted" in lifted.text
    assert not board_room.is_suppressed(user=user)


def test_sessions_and_accounts(client: TestClient, board_room: Postroom) -> None:
    issued = board_room.create_session("forum", user=77, data={"x": 1}, ttl=timedelta(days=1))
    page = client.get("/sessions", params={"user": "77"}).text
    assert "Expire #" in page
    ended = client.post(
        re.search(r'action="(/sessions/\d+/expire)"', page).group(1),  # type: ignore[union-attr]
        data={"csrf": csrf_of(page)},
    )
    assert ended.status_code == 200 and "expired now" in ended.text
    assert issued.address
    accounts = client.get("/accounts").text
    assert "news@example.test" in accounts and "never tested" in accounts


def test_webhook_endpoints_with_their_recent_deliveries(
    client: TestClient, board_room: Postroom
) -> None:
    from postroom.store import webhooks as hooks

    assert "No webhook endpoints" in client.get("/webhooks").text
    now = board_room.clock()
    with board_room.database.transaction() as tx:
        endpoint = hooks.add_endpoint(
            tx,
            url="https://app.example.org/hooks?<b>x</b>",
            secret="whsec_" + "A" * 32,
            event_types=["replied", "bounced"],
            handler=None,
            description="the <i>help desk</i>",
            now=now,
        )
        hooks.add_event(tx, type="bounced", now=now, data={"recipient": "gone@example.net"})
    with board_room.database.transaction() as tx:
        queued, _ = hooks.fan_out_endpoint(tx, endpoint.id, now=now)
    assert queued == 1
    page = client.get("/webhooks").text
    assert f"#{endpoint.id} <bdi>https://app.example.org/hooks?&lt;b&gt;x&lt;/b&gt;</bdi>" in page
    assert "events: replied, bounced" in page and "the &lt;i&gt;help desk&lt;/i&gt;" in page
    assert "<i>help desk</i>" not in page
    assert "<td>bounced</td>" in page and ">pending</span>" in page and "<code>msg_" in page
