"""The API through a real server: uvicorn on a loopback port, a real HTTP client, the same
answers as in process (chunked bodies, real headers, a raw message as the MTA would post)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx2
import pytest
import uvicorn

from postroom.app import Postroom
from support.messages import reply
from web.conftest import TokenFactory, web_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def served(api_room: Postroom) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        web_app(api_room), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_the_api_over_a_real_socket(served: str, auth: TokenFactory, api_room: Postroom) -> None:
    headers = auth("send", "read", "inbound")
    with httpx2.Client(base_url=served, timeout=10) as http:
        assert http.get("/healthz").json()["status"] == "pass"
        assert http.get("/api/openapi.json").json()["openapi"] == "3.1.0"
        refused = http.post("/api/emails", json={"account": "main"})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="postroom"'
        sent = http.post(
            "/api/emails",
            headers=headers,
            json={"account": "main", "to": ["ada@example.net"], "subject": "Hi", "text": "x"},
        )
        assert sent.status_code == 202, sent.text
        email = http.get(sent.headers["location"], headers=headers).json()
        assert email["counts"] == {"queued": 1}

        address = api_room.create_session("forum", user=8).address

        def chunks() -> Iterator[bytes]:
            raw = reply(address)
            for start in range(0, len(raw), 64):
                yield raw[start : start + 64]

        received = http.post(
            "/api/inbound",
            params={"recipient": address},
            headers={**headers, "Content-Type": "message/rfc822"},
            content=chunks(),
        )
        assert received.status_code == 200 and received.json()["outcome"] == "dispatched"
        metrics = http.get("/metrics")
        assert "postroom_events_total" in metrics.text
