"""``/api/webhooks``: add (the secret shown once), list and read (never the secret), test
against a real receiver on loopback that verifies the signature, list messages with their
pages, enable, remove; scopes and problem documents."""

from __future__ import annotations

from starlette.testclient import TestClient

from postroom.app import Postroom
from postroom.store import webhooks as store
from postroom.webhooks import verify
from postroom.webhooks.delivery import fan_out
from support.webhooks import WebhookReceiver
from web.conftest import problem


def test_add_read_test_and_remove_an_endpoint(
    client: TestClient, auth: object, admin: dict[str, str], api_room: Postroom
) -> None:
    read = auth("read")  # type: ignore[operator]
    with WebhookReceiver() as receiver:
        made = client.post(
            "/api/webhooks",
            headers=admin,
            json={"url": receiver.url, "events": ["bounced", "replied"], "description": "crm"},
        )
        assert made.status_code == 201, made.text
        row = made.json()
        secret = row["secret"]
        assert secret.startswith("whsec_") and row["events"] == ["bounced", "replied"]
        assert made.headers["location"] == f"/api/webhooks/{row['id']}"
        receiver.check = lambda headers, body: verify(secret, headers, body, now=api_room.clock())

        listed = client.get("/api/webhooks", headers=read).json()["items"]
        mine = [w for w in listed if w["id"] == row["id"]]
        assert len(mine) == 1 and "secret" not in mine[0]
        one = client.get(f"/api/webhooks/{row['id']}", headers=read).json()
        assert one["url"] == receiver.url and "secret" not in one

        tested = client.post(f"/api/webhooks/{row['id']}/test", headers=admin)
        assert tested.status_code == 200, tested.text
        assert tested.json()["ok"] is True and tested.json()["status"] == 204
        [request] = receiver.requests
        assert request.error is None and request.payload["type"] == "test"
        assert request.headers["webhook-id"] == tested.json()["msg_id"]

        receiver.default = 500
        failed = client.post(f"/api/webhooks/{row['id']}/test", headers=admin).json()
        assert (failed["ok"], failed["status"]) == (False, 500)

    assert client.delete(f"/api/webhooks/{row['id']}", headers=admin).status_code == 204
    problem(client.get(f"/api/webhooks/{row['id']}", headers=read), 404, "not-found")
    problem(client.delete(f"/api/webhooks/{row['id']}", headers=admin), 404, "not-found")


def test_messages_are_listed_newest_first_in_pages(
    client: TestClient, auth: object, admin: dict[str, str], api_room: Postroom
) -> None:
    read = auth("read")  # type: ignore[operator]
    made = client.post("/api/webhooks", headers=admin, json={"url": "http://127.0.0.1:9/x"})
    endpoint_id = made.json()["id"]
    with api_room.database.transaction() as tx:
        for n in range(5):
            store.add_event(tx, type="clicked", now=api_room.clock(), data={"n": n})
    fan_out(api_room)
    first = client.get(
        f"/api/webhooks/{endpoint_id}/messages", headers=read, params={"limit": 3}
    ).json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    rest = client.get(first["next"], headers=read).json()
    assert len(rest["items"]) == 2 and rest["next_cursor"] is None
    items = first["items"] + rest["items"]
    assert [m["payload"]["data"]["data"]["n"] for m in items] == [4, 3, 2, 1, 0]
    assert {m["status"] for m in items} == {"pending"}
    assert all(m["msg_id"].startswith("msg_") for m in items)
    delivered = client.get(
        f"/api/webhooks/{endpoint_id}/messages", headers=read, params={"status": "delivered"}
    ).json()
    assert delivered["items"] == []
    client.delete(f"/api/webhooks/{endpoint_id}", headers=admin)


def test_enable_after_disabling(
    client: TestClient, admin: dict[str, str], api_room: Postroom
) -> None:
    endpoint_id = client.post(
        "/api/webhooks", headers=admin, json={"url": "http://127.0.0.1:9/y"}
    ).json()["id"]
    with api_room.database.transaction() as tx:
        store.disable_endpoint(tx, endpoint_id, reason="410 Gone", now=api_room.clock())
    disabled = client.get(f"/api/webhooks/{endpoint_id}", headers=admin).json()
    assert disabled["disabled_reason"] == "410 Gone"
    enabled = client.post(f"/api/webhooks/{endpoint_id}/enable", headers=admin).json()
    assert enabled["disabled_at"] is None and enabled["disabled_reason"] is None
    client.delete(f"/api/webhooks/{endpoint_id}", headers=admin)


def test_bad_input_and_scopes(client: TestClient, auth: object, admin: dict[str, str]) -> None:
    read = auth("read")  # type: ignore[operator]
    body = {"url": "http://127.0.0.1:9/z"}
    problem(client.post("/api/webhooks", headers=read, json=body), 403, "forbidden")
    problem(client.post("/api/webhooks", json=body), 401, "unauthorized")
    unknown = client.post(
        "/api/webhooks", headers=admin, json={**body, "events": ["opened", "sneezed"]}
    )
    assert "sneezed" in str(problem(unknown, 422, "invalid-field")["detail"])
    not_http = client.post("/api/webhooks", headers=admin, json={"url": "file:///etc/passwd"})
    problem(not_http, 422, "invalid-field")
    both = client.post(
        "/api/webhooks", headers=admin, json={**body, "events": ["opened"], "handler": "t"}
    )
    problem(both, 422, "invalid-field")
    bad_secret = client.post("/api/webhooks", headers=admin, json={**body, "secret": "whsec_x"})
    problem(bad_secret, 422, "invalid-field")
    problem(client.post("/api/webhooks/999999/test", headers=admin), 404, "not-found")
    problem(client.get("/api/webhooks/999999/messages", headers=read), 404, "not-found")


def test_sessions_of_a_module_served_by_a_url_are_issued_over_http(
    client: TestClient, auth: object, admin: dict[str, str], api_room: Postroom
) -> None:
    send = auth("send")  # type: ignore[operator]
    name = "tickets-http"
    made = client.post(
        "/api/webhooks", headers=admin, json={"url": "http://127.0.0.1:9/r", "handler": name}
    )
    assert made.status_code == 201, made.text
    issued = client.post("/api/sessions", headers=send, json={"handler": name, "user": 5})
    assert issued.status_code == 201, issued.text
    assert api_room.codec.decode(issued.json()["address"]).user == 5  # type: ignore[union-attr]
    read = client.get(issued.headers["location"], headers=auth("read"))  # type: ignore[operator]
    assert read.status_code == 200 and read.json()["handler"] == name
    missing = client.post("/api/sessions", headers=send, json={"handler": "nobody", "user": 5})
    problem(missing, 422, "invalid-field")
    client.delete(f"/api/webhooks/{made.json()['id']}", headers=admin)
