"""``/api/sessions`` and ``/api/reply-addresses``: issue, read, revoke by id or address; a
reply to a revoked address is answered as to an expired one."""

from __future__ import annotations

from starlette.testclient import TestClient

from postroom.addresses.formats import ReplyToken
from postroom.app import Postroom
from support.messages import reply
from web.conftest import problem


def test_issue_read_and_revoke_by_id_then_a_reply_is_told_it_expired(
    client: TestClient, auth: object, api_room: Postroom
) -> None:
    send, read = auth("send"), auth("read")  # type: ignore[operator]
    answer = client.post(
        "/api/sessions",
        headers=send,
        json={
            "handler": "forum",
            "user": 42,
            "data": {"topic": 7, "deep": [[1]]},
            "address": "ada@example.net",
            "uses": 2,
            "ttl_seconds": 3600,
        },
    )
    assert answer.status_code == 201, answer.text
    issued = answer.json()
    assert answer.headers["location"] == issued["url"]
    token = api_room.codec.decode(issued["address"])
    assert isinstance(token, ReplyToken) and token.user == 42

    session = client.get(issued["url"], headers=read).json()
    assert session["handler"] == "forum" and session["data"] == {"topic": 7, "deep": [[1]]}
    assert session["uses_left"] == 2 and session["state"] == "active"
    assert session["address"] == "ada@example.net"

    revoked = client.delete(issued["url"], headers=send)
    assert revoked.status_code == 200 and revoked.json()["state"] == "expired"
    result = api_room.receive(reply(issued["address"]), recipients=[issued["address"]])
    assert str(result.outcome) == "session_expired"


def test_revoke_by_address_any_case_and_refuse_what_is_no_reply_address(
    client: TestClient, auth: object, api_room: Postroom
) -> None:
    send = auth("send")  # type: ignore[operator]
    issued = api_room.create_session("forum", user=9)
    answer = client.delete(f"/api/reply-addresses/<{issued.address.upper()}>", headers=send)
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == issued.session_id and answer.json()["state"] == "expired"

    forged = issued.address.replace(issued.address[8], "a" if issued.address[8] != "a" else "b")
    problem(client.delete(f"/api/reply-addresses/{forged}", headers=send), 422, "invalid-address")
    problem(
        client.delete("/api/reply-addresses/ada@example.net", headers=send), 422, "invalid-address"
    )
    bounce = api_room.codec.encode_bounce(delivery_id=5)
    body = problem(
        client.delete(f"/api/reply-addresses/{bounce}", headers=send), 422, "invalid-address"
    )
    assert "bounce address" in str(body["detail"])
    problem(client.delete("/api/sessions/99999999", headers=send), 404, "not-found")


def test_bad_sessions_name_their_field(client: TestClient, auth: object) -> None:
    send = auth("send")  # type: ignore[operator]
    handler = client.post("/api/sessions", headers=send, json={"handler": "nope", "user": 1})
    body = problem(handler, 422, "invalid-field")
    assert body["field"] == "handler" and "forum" in str(body["detail"])
    user = client.post("/api/sessions", headers=send, json={"handler": "forum", "user": -1})
    assert problem(user, 422, "invalid-field")["field"] == "user"
    deep: object = 1
    for _ in range(70):
        deep = [deep]
    too_deep = client.post(
        "/api/sessions", headers=send, json={"handler": "forum", "user": 1, "data": deep}
    )
    assert too_deep.status_code in (400, 422)
    assert too_deep.headers["content-type"] == "application/problem+json"
