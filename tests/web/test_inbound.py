"""``/api/inbound``: raw mail delivered over HTTP runs the pipeline (the handler gets the
reply), the stored message with its outcome and its raw bytes, replays."""

from __future__ import annotations

import secrets

from starlette.testclient import TestClient

from postroom.app import Postroom
from postroom.inbound.types import Reply
from support.messages import reply
from web.conftest import problem

MAIL = {"Content-Type": "message/rfc822"}


def issue(room: Postroom, user: int = 42) -> str:
    return room.create_session("forum", user=user, data={"topic": secrets.token_hex(3)}).address


def test_a_reply_posted_as_raw_mail_reaches_the_handler_and_is_kept(
    client: TestClient, auth: object, api_room: Postroom, replies: list[Reply]
) -> None:
    address = issue(api_room)
    raw = reply(address, "See you at five.\n\nOn Mon, Bob wrote:\n> Meet?\n")
    inbound = auth("inbound")  # type: ignore[operator]
    answer = client.post(
        "/api/inbound",
        params={"recipient": address, "sender": "ada@example.net"},
        headers={**inbound, **MAIL},
        content=raw,
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["outcome"] == "dispatched" and result["refused"] is False
    assert replies[-1].text == "See you at five." and replies[-1].address == address

    read = auth("read")  # type: ignore[operator]
    stored = client.get(f"/api/inbound/{result['inbound_id']}", headers=read).json()
    assert stored["outcome"] == "dispatched" and stored["status"] == "done"
    assert stored["envelope_sender"] == "ada@example.net" and stored["size"] == len(raw)
    assert stored["raw_url"] == f"/api/inbound/{result['inbound_id']}/raw"
    raw_answer = client.get(stored["raw_url"], headers=read)
    assert raw_answer.content == raw
    assert raw_answer.headers["content-type"] == "message/rfc822"
    assert raw_answer.headers["content-disposition"].startswith("attachment;")
    assert raw_answer.headers["x-content-type-options"] == "nosniff"
    listed = client.get("/api/inbound", headers=read, params={"outcome": "dispatched"}).json()
    assert result["inbound_id"] in [m["id"] for m in listed["items"]]

    again = client.post(
        "/api/inbound", params={"recipient": address}, headers={**inbound, **MAIL}, content=raw
    )
    assert again.json()["outcome"] == "duplicate"
    events = client.get("/api/events", headers=read, params={"inbound": result["inbound_id"]})
    assert [e["type"] for e in events.json()["items"]] == ["replied"]


def test_replays_need_admin_and_a_handled_message_needs_dry_run_or_force(
    client: TestClient,
    auth: object,
    admin: dict[str, str],
    api_room: Postroom,
    replies: list[Reply],
) -> None:
    address = issue(api_room)
    posted = client.post(
        "/api/inbound",
        params={"recipient": address},
        headers={**auth("inbound"), **MAIL},  # type: ignore[operator]
        content=reply(address, "Once.\n"),
    ).json()
    url = f"/api/inbound/{posted['inbound_id']}/replay"
    count = len(replies)
    body = problem(client.post(url, headers=admin), 409, "already-handled")
    assert "dry_run" in str(body["detail"])
    dry = client.post(url, headers=admin, json={"dry_run": True})
    assert dry.status_code == 200 and dry.json()["outcome"] == "dispatched"
    assert len(replies) == count  # a dry run calls no handler
    forced = client.post(url, headers=admin, json={"force": True})
    assert forced.status_code == 200 and len(replies) == count + 1
    problem(client.post("/api/inbound/99999999/replay", headers=admin), 404, "not-found")
    typo = client.post(url, headers=admin, json={"dryrun": True})
    assert problem(typo, 422, "invalid-field")["field"] == "dryrun"


def test_mail_for_others_is_refused_and_bad_bodies_named(client: TestClient, auth: object) -> None:
    headers = auth("inbound")  # type: ignore[operator]
    stranger = client.post(
        "/api/inbound",
        params={"recipient": "someone@elsewhere.example"},
        headers={**headers, **MAIL},
        content=reply("someone@elsewhere.example"),
    ).json()
    assert stranger["outcome"] == "not_ours" and stranger["refused"] is True
    forged = client.post(
        "/api/inbound",
        params={"recipient": "reply+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@reply.example.test"},
        headers={**headers, **MAIL},
        content=reply("x@reply.example.test"),
    ).json()
    assert forged["outcome"] == "invalid_address"
    no_recipient = client.post("/api/inbound", headers={**headers, **MAIL}, content=b"x")
    assert problem(no_recipient, 422, "invalid-field")["field"] == "recipient"
    empty = client.post(
        "/api/inbound", params={"recipient": "a@b.example"}, headers={**headers, **MAIL}
    )
    problem(empty, 422, "unparseable-message")
    json_body = client.post(
        "/api/inbound", params={"recipient": "a@b.example"}, headers=headers, json={"a": 1}
    )
    problem(json_body, 415, "unsupported-media-type")


def test_an_oversized_message_is_counted_not_kept(
    client: TestClient, auth: object, api_room: Postroom
) -> None:
    address = issue(api_room)
    limit = api_room.settings.max_message_bytes
    raw = reply(address, "x" * 100 + "\n") + b"y" * (limit + 10)
    answer = client.post(
        "/api/inbound",
        params={"recipient": address},
        headers={**auth("inbound"), **MAIL},  # type: ignore[operator]
        content=raw,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "too_large"
    stored = client.get(
        f"/api/inbound/{answer.json()['inbound_id']}",
        headers=auth("read"),  # type: ignore[operator]
    ).json()
    assert stored["size"] <= limit + 1
