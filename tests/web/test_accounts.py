"""``/api/accounts``: listed, added and tested, and no secret ever in an answer."""

from __future__ import annotations

from starlette.testclient import TestClient

from support.smtpserver import ScriptedSmtpServer
from web.conftest import problem

PASSWORD = "s3cret-Passw0rd-for-the-relay"


def test_accounts_never_answer_their_secrets(
    client: TestClient, auth: object, admin: dict[str, str]
) -> None:
    added = client.post(
        "/api/accounts",
        headers=admin,
        json={
            "name": "support",
            "from_address": "help@example.org",
            "from_name": "Help",
            "smtp": {"host": "smtp.example.org", "port": 587, "password": PASSWORD},
            "limits": {"per_minute": 60},
        },
    )
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["has_secret"] is True and body["smtp"]["username"] == "help@example.org"
    assert body["limits"]["per_minute"] == 60 and body["dkim_record"] is None
    read = auth("read")  # type: ignore[operator]
    listing = client.get("/api/accounts", headers=read)
    one = client.get("/api/accounts/support", headers=read)
    for answer in (added, listing, one):
        assert PASSWORD not in answer.text
    assert "support" in [a["name"] for a in listing.json()["items"]]
    problem(client.get("/api/accounts/nosuch", headers=read), 404, "not-found")

    twice = client.post(
        "/api/accounts",
        headers=admin,
        json={"name": "support", "from_address": "x@example.org", "smtp": {"host": "h.example"}},
    )
    problem(twice, 409, "conflict")
    no_password = client.post(
        "/api/accounts",
        headers=admin,
        json={"name": "nopass", "from_address": "x@example.org", "smtp": {"host": "h.example"}},
    )
    assert "password" in str(problem(no_password, 422, "invalid-field")["detail"])
    security = client.post(
        "/api/accounts",
        headers=admin,
        json={
            "name": "weird",
            "from_address": "x@example.org",
            "smtp": {"host": "h.example", "security": "rot13"},
        },
    )
    assert problem(security, 422, "invalid-field")["field"] == "smtp.security"


def test_testing_an_account_talks_to_its_server(client: TestClient, admin: dict[str, str]) -> None:
    with ScriptedSmtpServer() as server:
        made = client.post(
            "/api/accounts",
            headers=admin,
            json={
                "name": "relay",
                "from_address": "app@example.org",
                "smtp": {
                    "host": server.host,
                    "port": server.port,
                    "security": "none",
                    "auth": "none",
                },
            },
        )
        assert made.status_code == 201, made.text
        answer = client.post("/api/accounts/relay/test", headers=admin, json={"timeout": 5})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["ok"] is True and any("offers" in line for line in result["lines"])
    assert result["account"]["last_test"]["ok"] is True
    # Nothing listens there now: the test fails, and says so, still with 200.
    failed = client.post("/api/accounts/relay/test", headers=admin, json={"timeout": 2})
    assert failed.status_code == 200 and failed.json()["ok"] is False
    assert any(line.startswith("FAILED") for line in failed.json()["lines"])
