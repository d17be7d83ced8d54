"""``/api/suppressions``: list, add (address or user), conflict on a second, lift (with the
bounce score restarted), and the send path honouring both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from postroom.app import Postroom
from postroom.store import repos
from web.conftest import problem, unique_address


def test_add_list_lift_and_the_send_path_follows(
    client: TestClient, auth: object, admin: dict[str, str]
) -> None:
    read, send = auth("read"), auth("send")  # type: ignore[operator]
    target = unique_address("Stop")
    made = client.post(
        "/api/suppressions", headers=admin, json={"address": target, "note": "asked by phone"}
    )
    assert made.status_code == 201, made.text
    row = made.json()
    assert row["address"] == target.lower() and row["reason"] == "manual"
    assert row["details"]["note"] == "asked by phone" and row["details"]["by"].startswith("test-")
    assert made.headers["location"] == f"/api/suppressions/{row['id']}"
    again = client.post("/api/suppressions", headers=admin, json={"address": target.upper()})
    assert "suppressed already" in str(problem(again, 409, "conflict")["detail"])

    listed = client.get("/api/suppressions", headers=read, params={"address": target}).json()
    assert [s["id"] for s in listed["items"]] == [row["id"]]
    manual = client.get("/api/suppressions", headers=read, params={"reason": "manual"}).json()
    assert row["id"] in [s["id"] for s in manual["items"]]

    email = {"account": "main", "to": [target], "text": "hi"}
    assert client.post("/api/emails", headers=send, json=email).json()["deliveries"] == []
    assert client.delete(f"/api/suppressions/{row['id']}", headers=admin).status_code == 204
    problem(client.get(f"/api/suppressions/{row['id']}", headers=read), 404, "not-found")
    assert len(client.post("/api/emails", headers=send, json=email).json()["deliveries"]) == 1


def test_a_user_suppression_and_lifting_it_restarts_the_score(
    client: TestClient, admin: dict[str, str], api_room: Postroom
) -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with api_room.database.transaction() as tx:
        repos.add_bounce_score(
            tx, user_id=4242, weight=2.0, hard=True, now=now, quiet=timedelta(days=30)
        )
    made = client.post("/api/suppressions", headers=admin, json={"user": 4242}).json()
    assert made["user_id"] == 4242
    assert api_room.is_suppressed(user=4242)
    keep = client.delete(f"/api/suppressions/{made['id']}?reset_score=false", headers=admin)
    assert keep.status_code == 204 and api_room.bounce_score(4242) is not None
    again = client.post("/api/suppressions", headers=admin, json={"user": 4242}).json()
    client.delete(f"/api/suppressions/{again['id']}", headers=admin)
    assert api_room.bounce_score(4242) is None and not api_room.is_suppressed(user=4242)


def test_a_suppression_needs_an_address_or_a_user(
    client: TestClient, admin: dict[str, str], auth: object
) -> None:
    body = problem(client.post("/api/suppressions", headers=admin, json={}), 422, "invalid-field")
    assert "address, a user, or both" in str(body["detail"])
    problem(
        client.post("/api/suppressions", headers=admin, json={"address": "nobody"}),
        422,
        "invalid-field",
    )
    # Adding and lifting are the admin's; reading is anyone's with read.
    problem(
        client.post(
            "/api/suppressions",
            headers=auth("read", "send"),  # type: ignore[operator]
            json={"user": 1},
        ),
        403,
        "forbidden",
    )
