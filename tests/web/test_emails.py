"""``/api/emails``: sending (JSON with base64 attachments, or multipart with files), the
answer's copies and skips, the refusals (each naming its field), the list and one email's
timeline."""

from __future__ import annotations

import base64
import json

from sqlalchemy import select
from starlette.testclient import TestClient

from postroom.app import Postroom
from postroom.compose.stored import load
from postroom.store.models import EmailRow, SessionRow
from web.conftest import problem, unique_address


def mime_of(room: Postroom, email_id: int) -> bytes:
    """The stored email's static MIME (headers, parts, attachments already in base64)."""
    with room.database.transaction() as tx:
        row = tx.get(EmailRow, email_id)
        assert row is not None
        template = load(row.template)
    return template.visible_headers + b"".join(
        chunk for chunk in template.layout if isinstance(chunk, bytes)
    )


def test_send_queues_a_copy_per_recipient_and_the_email_reads_back(
    client: TestClient, auth: object, api_room: Postroom
) -> None:
    headers = auth("send", "read")  # type: ignore[operator]
    ada, bob, cy = unique_address("ada"), unique_address("bob"), unique_address("cy")
    answer = client.post(
        "/api/emails",
        headers=headers,
        json={
            "account": "main",
            "to": [{"address": ada, "name": "Ada", "user": 1}, {"address": bob, "user": 2}],
            "cc": [{"address": cy, "user": 3, "data": {"tier": "gold"}}],
            "subject": "Your ticket",
            "text": "Fixed.",
            "html": "<p>Fixed: <a href='https://help.example.org/t/7'>see</a></p>",
            "reply": {"handler": "forum", "data": {"ticket": 7}, "ttl_seconds": 86400},
            "headers": {"X-Ticket": "7"},
            "attachments": [
                {
                    "filename": "log.txt",
                    "content_type": "text/plain",
                    "content": base64.b64encode(b"line one\n").decode(),
                }
            ],
        },
    )
    assert answer.status_code == 202, answer.text
    sent = answer.json()
    assert answer.headers["location"] == f"/api/emails/{sent['email_id']}" == sent["url"]
    assert [(c["address"], c["role"]) for c in sent["deliveries"]] == [
        (ada, "to"),
        (bob, "to"),
        (cy, "cc"),
    ]
    assert all(c["reply_address"].startswith("reply+") for c in sent["deliveries"])
    assert sent["skipped"] == []
    with api_room.database.transaction() as tx:
        sessions = tx.scalars(
            select(SessionRow).where(
                SessionRow.delivery_id.in_([c["id"] for c in sent["deliveries"]])
            )
        ).all()
        assert {s.user_id for s in sessions} == {1, 2, 3}
        assert all(s.data == {"ticket": 7} for s in sessions)
    mime = mime_of(api_room, sent["email_id"])
    assert b'filename="log.txt"' in mime and base64.b64encode(b"line one\n") in mime
    assert b"X-Ticket: 7" in mime

    email = client.get(sent["url"], headers=headers).json()
    assert email["subject"] == "Your ticket" and email["account"] == "main"
    assert email["counts"] == {"queued": 3} and email["events"] == {"queued": 3}
    assert [c["address"] for c in email["copies"]] == [ada, bob, cy]
    first = email["copies"][0]
    assert first["status"] == "queued" and first["name"] == "Ada"
    assert [e["type"] for e in first["events"]] == ["queued"]
    assert first["events"][0]["delivery_id"] == first["id"]
    assert email["next_cursor"] is None
    assert email["engagement"]["unique_opens"] == 0
    assert first["engagement"] == {
        "opens": 0, "human_opens": 0, "clicks": 0, "human_clicks": 0,
        "first_open_at": None, "first_human_open_at": None,
    }  # fmt: skip

    # Bob opens it (a person), a scanner opens Ada's: the email and each copy say so.
    from datetime import UTC, datetime

    from postroom.store.models import EventRow

    at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    copies = {c["address"]: c for c in email["copies"]}
    with api_room.database.transaction() as tx:
        for address, machine in ((bob, False), (ada, True)):
            tx.add(
                EventRow(
                    type="opened",
                    occurred_at=at,
                    email_id=sent["email_id"],
                    delivery_id=copies[address]["id"],
                    recipient=address,
                    machine=machine,
                    data={},
                )
            )
    email = client.get(sent["url"], headers=headers).json()
    engagement = email["engagement"]
    assert (engagement["unique_opens"], engagement["unique_human_opens"]) == (2, 1)
    assert engagement["first_human_open_at"].startswith("2026-11-02T09:30")
    by_address = {c["address"]: c["engagement"] for c in email["copies"]}
    assert by_address[bob]["first_human_open_at"].startswith("2026-11-02T09:30")
    assert by_address[ada]["opens"] == 1 and by_address[ada]["first_human_open_at"] is None


def test_a_multipart_email_carries_its_files(
    client: TestClient, auth: object, api_room: Postroom
) -> None:
    email = {
        "account": "main",
        "to": [unique_address()],
        "subject": "Report",
        "html": "<p>See <img src='cid:logo'></p>",
    }
    answer = client.post(
        "/api/emails",
        headers=auth("send"),  # type: ignore[operator]
        data={"email": json.dumps(email)},
        files=[
            ("attachments", ("report.csv", b"a,b\n1,2\n", "text/csv")),
            ("attachments", ("notes.txt", b"notes", "text/plain")),
            ("inline:logo", ("logo.png", b"\x89PNG fake", "image/png")),
        ],
    )
    assert answer.status_code == 202, answer.text
    mime = mime_of(api_room, answer.json()["email_id"])
    assert b'filename="report.csv"' in mime and base64.b64encode(b"a,b\n1,2\n") in mime
    assert b'filename="notes.txt"' in mime and b"Content-Type: text/csv" in mime
    assert b"Content-ID: <logo>" in mime and b"image/png" in mime


def test_suppressed_and_duplicate_recipients_are_skipped_and_said(
    client: TestClient, auth: object, admin: dict[str, str]
) -> None:
    gone = unique_address("gone")
    made = client.post("/api/suppressions", headers=admin, json={"address": gone})
    assert made.status_code == 201, made.text
    here = unique_address("here")
    answer = client.post(
        "/api/emails",
        headers=auth("send"),  # type: ignore[operator]
        json={"account": "main", "to": [here, gone, here.upper()], "text": "hi"},
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert [c["address"] for c in body["deliveries"]] == [here]
    assert sorted(s["reason"] for s in body["skipped"]) == [
        "duplicate recipient",
        "suppressed: manual",
    ]


def test_an_email_that_cannot_be_built_names_its_field(client: TestClient, auth: object) -> None:
    headers = auth("send")  # type: ignore[operator]
    injected = client.post(
        "/api/emails",
        headers=headers,
        json={
            "account": "main",
            "to": [unique_address()],
            "text": "x",
            "headers": {"X-Tag": "a\r\nBcc: victim@example.org"},
        },
    )
    body = problem(injected, 422, "invalid-email")
    assert body["field"] == "headers['X-Tag']"
    assert body["errors"] == [
        {
            "field": "headers['X-Tag']",
            "pointer": "/headers/X-Tag",
            "detail": body["errors"][0]["detail"],
        }  # type: ignore[index]
    ]
    assert "Fix:" in str(body["detail"])

    bad_to = client.post(
        "/api/emails",
        headers=headers,
        json={"account": "main", "to": [unique_address(), "not an address"], "text": "x"},
    )
    body = problem(bad_to, 422, "invalid-email")
    assert body["field"] == "to[1]" and body["errors"][0]["pointer"] == "/to/1"  # type: ignore[index]

    no_account = client.post(
        "/api/emails", headers=headers, json={"account": "nope", "to": [unique_address()]}
    )
    body = problem(no_account, 422, "unknown-account")
    assert body["field"] == "account" and "postroom accounts add" in str(body["detail"])

    handler = client.post(
        "/api/emails",
        headers=headers,
        json={
            "account": "main",
            "to": [{"address": unique_address(), "user": 1}],
            "text": "x",
            "reply": {"handler": "nosuch"},
        },
    )
    assert problem(handler, 422, "invalid-email")["field"] == "reply"


def test_invalid_json_fields_are_all_listed_with_pointers(client: TestClient, auth: object) -> None:
    answer = client.post(
        "/api/emails",
        headers=auth("send"),  # type: ignore[operator]
        json={
            "account": "main",
            "to": [{"address": "a@example.net", "user": "4"}, 5],
            "attachments": [{"filename": "a.txt", "content": "not base64!"}],
            "tarck": False,
        },
    )
    body = problem(answer, 422, "invalid-field")
    errors = {e["field"]: e for e in body["errors"]}  # type: ignore[union-attr]
    assert set(errors) == {"to[0].user", "to[1]", "attachments[0].content", "tarck"}
    assert errors["to[0].user"]["pointer"] == "/to/0/user"
    assert "base64" in errors["attachments[0].content"]["detail"]
    assert "not permitted" in errors["tarck"]["detail"]
    assert body["field"] == "to[0].user"


def test_bodies_that_are_not_an_email_are_refused_as_such(client: TestClient, auth: object) -> None:
    headers = auth("send")  # type: ignore[operator]
    broken = client.post(
        "/api/emails",
        headers={**headers, "Content-Type": "application/json"},
        content=b'{"account": "main", "to": [',
    )
    assert "not JSON" in str(problem(broken, 400, "invalid-request")["detail"])
    empty = client.post(
        "/api/emails", headers={**headers, "Content-Type": "application/json"}, content=b""
    )
    problem(empty, 400, "invalid-request")
    form = client.post(
        "/api/emails", headers=headers, files=[("attachments", ("a.txt", b"a", "text/plain"))]
    )
    assert problem(form, 422, "invalid-field")["field"] == "email"  # no 'email' part
    urlencoded = client.post(
        "/api/emails",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        content=b"account=main",
    )
    problem(urlencoded, 415, "unsupported-media-type")
    nested = client.post(
        "/api/emails",
        headers={**headers, "Content-Type": "application/json"},
        content=b"[" * 100_000 + b"]" * 100_000,
    )
    assert nested.status_code in (400, 422)
    huge = client.post(
        "/api/emails",
        headers={**headers, "Content-Type": "application/json"},
        content=b'{"account": "main", "text": "' + b"x" * (49 << 20) + b'"}',
    )
    problem(huge, 413, "payload-too-large")


def test_the_list_pages_by_cursor_and_filters_by_recipient_and_account(
    client: TestClient, auth: object
) -> None:
    send, read = auth("send"), auth("read")  # type: ignore[operator]
    shared = unique_address("shared")
    ids = []
    for n in range(5):
        answer = client.post(
            "/api/emails",
            headers=send,
            json={"account": "main", "to": [shared], "subject": f"n{n}", "text": "x"},
        )
        ids.append(answer.json()["email_id"])
    seen, url = [], "/api/emails?limit=2&recipient=" + shared.upper()
    while url:
        page = client.get(url, headers=read).json()
        assert len(page["items"]) <= 2
        seen += [e["id"] for e in page["items"]]
        url = page["next"]
    assert seen == ids[::-1]
    one = client.get("/api/emails", headers=read, params={"account": "main", "limit": 1}).json()
    assert one["items"][0]["account"] == "main" and one["next_cursor"]
    missing = client.get("/api/emails", headers=read, params={"account": "nope"})
    problem(missing, 404, "not-found")


def test_unknown_emails_and_bad_parameters(client: TestClient, auth: object) -> None:
    read = auth("read")  # type: ignore[operator]
    problem(client.get("/api/emails/999999", headers=read), 404, "not-found")
    problem(client.get(f"/api/emails/{10**30}", headers=read), 404, "not-found")
    limit = client.get("/api/emails", headers=read, params={"limit": 0})
    assert problem(limit, 422, "invalid-field")["errors"][0]["in"] == "query"  # type: ignore[index]
    cursor = client.get("/api/emails", headers=read, params={"cursor": "garbage!"})
    assert problem(cursor, 422, "invalid-field")["field"] == "cursor"
    events_cursor = client.get("/api/events", headers=read, params={"limit": 1}).json()
    if events_cursor["next_cursor"]:
        other = client.get(
            "/api/emails", headers=read, params={"cursor": events_cursor["next_cursor"]}
        )
        assert "events list" in str(problem(other, 422, "invalid-field")["detail"])
