"""``/healthz``: 200 when the database answers at the schema this postroom needs, 503 with
the fix otherwise, and nothing about the deployment in either."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from postroom.app import Postroom
from postroom.store import open_database
from postroom.store.migrate import downgrade, head_revision, upgrade
from support.sending import settings_with_keys
from web.conftest import web_app


def test_a_current_database_passes(client: TestClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/health+json"
    body = answer.json()
    assert body["status"] == "pass"
    assert body["checks"]["database:schema"][0]["observedValue"] == head_revision()


def test_an_old_schema_or_no_database_fails_with_the_fix(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    database = open_database(url)
    upgrade(database)
    downgrade(database, "0004")
    room = Postroom(settings_with_keys(url), database=database)
    with TestClient(web_app(room)) as client:
        answer = client.get("/healthz")
    assert answer.status_code == 503
    schema = answer.json()["checks"]["database:schema"][0]
    assert schema["status"] == "fail" and "postroom db upgrade" in schema["output"]
    database.dispose()

    gone = "postgresql+psycopg://postroom:pw@127.0.0.1:1/none"
    room = Postroom(settings_with_keys(gone), database=open_database(gone))
    with TestClient(web_app(room)) as client:
        answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.json()["status"] == "fail"
    assert "127.0.0.1" not in answer.text and "postroom:pw" not in answer.text
