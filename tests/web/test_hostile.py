"""Hostile mail in JSON answers stays data: script tags, event handlers, javascript: URLs,
CRLF, RTL overrides and a 10,000-character subject come back as the same strings, in JSON
that holds no markup character and no invisible one, with headers that forbid rendering;
nothing from mail reaches a response header. And no state-changing route can be driven
from another site: no cookie or form is a credential, no CORS preflight is granted."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

import pytest
from starlette.testclient import TestClient

from postroom.app import Postroom
from postroom.web.api import endpoints
from web.conftest import problem, unique_address
from web.test_auth import concrete

SCRIPT = "<script>alert(1)</script>"
HANDLER = '"><img src=x onerror="alert(2)">'
JS_URL = "javascript:alert(3)"
RTL = "invoice\u202egpj.exe"
LONG = "A" * 10_000
SUBJECT = f"{SCRIPT} {HANDLER} {JS_URL} {RTL} {LONG}"


def hostile_mail(to: str) -> bytes:
    message = EmailMessage()
    message["From"] = f'"{SCRIPT}" <evil@example.net>'
    message["To"] = to
    message["Subject"] = SUBJECT
    message["Message-ID"] = "<hostile.1@example.net>"
    message["X-Injected"] = "a"  # a CRLF inside a value is refused by the policy; see below
    message.set_content(f"Click <a href='{JS_URL}' onclick='alert(4)'>here</a>\n{SCRIPT}\n")
    raw = message.as_bytes(policy=SMTP)
    # A header that tries to smuggle a second one in, as raw bytes on the wire.
    return raw.replace(b"X-Injected: a", b"X-Injected: a\r\n\tSet-Cookie: stolen=1")


def assert_inert(answer: object) -> object:
    from httpx2 import Response

    assert isinstance(answer, Response)
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    for name, value in answer.headers.items():
        assert "script" not in value.lower() and "stolen" not in value, (name, value)
    if answer.headers["content-type"].endswith("json"):
        assert answer.content.isascii()
        for dangerous in (b"<", b">", b"&", "\u202e".encode(), b"\r", b"\n"):
            assert dangerous not in answer.content
    return answer.json() if answer.headers["content-type"].endswith("json") else None


def test_hostile_mail_comes_back_as_the_same_strings_and_nothing_else(
    client: TestClient, auth: object, api_room: Postroom
) -> None:
    address = api_room.create_session("forum", user=31).address
    read = auth("read")  # type: ignore[operator]
    posted = client.post(
        "/api/inbound",
        params={"recipient": address, "sender": f"{SCRIPT}@example.net"},
        headers={**auth("inbound"), "Content-Type": "message/rfc822"},  # type: ignore[operator]
        content=hostile_mail(address),
    )
    result = assert_inert(posted)
    assert isinstance(result, dict)
    inbound_id = result["inbound_id"]
    detail = assert_inert(client.get(f"/api/inbound/{inbound_id}", headers=read))
    assert isinstance(detail, dict)
    # The pipeline keeps the first 500 characters of a subject (inbound/context.py).
    assert detail["subject"] == SUBJECT[:500] and RTL in detail["subject"]
    assert detail["sender"] == "evil@example.net"  # the address alone is kept
    assert detail["envelope_sender"] == f"{SCRIPT}@example.net"
    listed = assert_inert(client.get("/api/inbound", headers=read))
    assert isinstance(listed, dict) and listed["items"][0]["subject"] == SUBJECT[:500]
    raw = client.get(f"/api/inbound/{inbound_id}/raw", headers=read)
    assert_inert(raw)
    assert raw.headers["content-type"] == "message/rfc822"
    assert raw.headers["content-disposition"] == f'attachment; filename="inbound-{inbound_id}.eml"'
    assert "sandbox" in raw.headers["content-security-policy"]
    events = assert_inert(client.get("/api/events", headers=read, params={"inbound": inbound_id}))
    assert isinstance(events, dict)


def test_hostile_text_in_a_sent_email_and_in_errors_stays_data(
    client: TestClient, auth: object
) -> None:
    headers = auth("send", "read")  # type: ignore[operator]
    sent = client.post(
        "/api/emails",
        headers=headers,
        json={
            "account": "main",
            "subject": SUBJECT,
            "to": [{"address": unique_address(), "name": f"{HANDLER}{RTL}"}],
            "html": f"<p onclick='x'>{SCRIPT}<a href='{JS_URL}'>a</a></p>",
        },
    )
    body = assert_inert(sent)
    assert isinstance(body, dict)
    email = assert_inert(client.get(body["url"], headers=headers))
    assert isinstance(email, dict)
    assert email["subject"] == SUBJECT and email["copies"][0]["name"] == f"{HANDLER}{RTL}"
    assert_inert(client.get("/api/emails", headers=headers))
    refused = client.post(
        "/api/emails",
        headers=headers,
        json={"account": "main", "to": [f"{SCRIPT}\r\nBcc: x@example.org"], "text": "x"},
    )
    error = assert_inert(refused)
    assert isinstance(error, dict) and error["field"] == "to[0]"
    echoed = client.post(
        "/api/emails", headers=headers, json={"account": SCRIPT, "to": [unique_address()]}
    )
    error = assert_inert(echoed)
    assert isinstance(error, dict) and SCRIPT in error["detail"]  # named as given, as data
    unknown = client.get(f"/api/{SCRIPT}", headers=headers)
    assert_inert(unknown)
    assert unknown.status_code == 404


CHANGING = [e for e in endpoints() if e.method in ("POST", "DELETE", "PUT", "PATCH")]


@pytest.mark.parametrize("endpoint", CHANGING, ids=[f"{e.method} {e.path}" for e in CHANGING])
def test_no_state_changing_route_takes_a_cross_site_request(
    client: TestClient, auth: object, endpoint: object
) -> None:
    from postroom.web.api.routing import Endpoint

    assert isinstance(endpoint, Endpoint)
    path = concrete(endpoint)
    good = auth("admin")["Authorization"].split()[1]  # type: ignore[operator]
    # What a page on another site can make a browser send: a form post with its cookies.
    forged = client.request(
        endpoint.method,
        path,
        headers={
            "Origin": "https://evil.example",
            "Cookie": f"token={good}; session={good}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        content=b"account=main&to=victim%40example.org",
    )
    problem(forged, 401, "unauthorized")
    assert "access-control-allow-origin" not in forged.headers
    preflight = client.options(
        path,
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 405
    assert not any(h.startswith("access-control-") for h in preflight.headers)
