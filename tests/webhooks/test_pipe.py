"""`postroom inbound` (the MTA pipe) for an application with no Python code at all: the
module is served by a URL, the reply is POSTed signed to a receiver on loopback, and the
pipe still loads none of the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cli.test_pipe_imports import HEAVY, PROBE
from postroom.webhooks import verify
from support.cli import Deployment
from support.messages import reply
from support.webhooks import WebhookReceiver


def test_the_pipe_posts_a_reply_to_a_module_served_by_a_url(
    tmp_path: Path, sqlite_url: str
) -> None:
    deployment = Deployment(tmp_path, sqlite_url)
    text = deployment.config.read_text()
    deployment.config.write_text(
        text.replace('import = "postroom.examples.forum:room"', '# import = "myapp.mail:room"')
    )
    assert deployment.run("db", "upgrade").returncode == 0
    with WebhookReceiver() as receiver:
        added = deployment.run("webhooks", "add", receiver.url, "--handler", "tickets")
        assert added.returncode == 0, added.stderr.decode()
        secret = added.stdout.decode().strip()
        receiver.check = lambda headers, body: verify(secret, headers, body)
        made = deployment.run(
            "session", "create", "tickets", "--user", "42", "--data", '{"ticket": 7}'
        )
        assert made.returncode == 0, made.stderr.decode()
        address = made.stdout.decode().strip()
        result = subprocess.run(
            [sys.executable, "-c", PROBE.format(heavy=HEAVY), "inbound", "--recipient", address],
            input=reply(address),
            capture_output=True,
            env=deployment.env(),
            timeout=60,
        )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.startswith(b"dispatched")
    assert b"LOADED []" in result.stderr, result.stderr.decode()
    [request] = receiver.requests
    assert request.error is None
    assert request.payload["data"]["session_data"] == {"ticket": 7}
    assert json.loads(request.body)["data"]["module"] == "tickets"
