"""``postroom webhooks`` as an operator runs it: the secret printed once and signing what the
receiver on loopback verifies; list, test, remove; bad input as exit 65."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from postroom.cli import main
from postroom.webhooks import verify
from support.cli import Deployment
from support.webhooks import WebhookReceiver


@pytest.fixture
def deployment(tmp_path: Path, sqlite_url: str) -> Deployment:
    deployment = Deployment(tmp_path, sqlite_url)
    assert deployment.run("db", "upgrade").returncode == 0
    return deployment


def run(deployment: Deployment, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, ["--config", str(deployment.config), *args], env=deployment.env()
    )
    return result.exit_code, result.stdout, result.stderr


def test_add_test_list_and_remove(deployment: Deployment) -> None:
    with WebhookReceiver() as receiver:
        code, out, err = run(
            deployment, "webhooks", "add", receiver.url, "--events", "bounced,replied"
        )
        assert code == 0, err
        secret = out.strip()
        assert secret.startswith("whsec_") and "shown this once" in err
        receiver.check = lambda headers, body: verify(secret, headers, body)
        code, out, err = run(deployment, "webhooks", "test", "1")
        assert code == 0, err
        assert "answered 204" in out
        [request] = receiver.requests
        assert request.error is None and request.payload["type"] == "test"
        receiver.default = 503
        code, out, _ = run(deployment, "webhooks", "test", "1")
        assert code == 69 and "answered 503" in out

    code, out, _ = run(deployment, "webhooks", "list")
    assert code == 0 and "#1 " in out and "bounced, replied" in out and secret not in out
    assert run(deployment, "webhooks", "remove", "1")[0] == 0
    assert "no webhook endpoints" in run(deployment, "webhooks", "list")[1]
    assert run(deployment, "webhooks", "remove", "1")[0] == 67


def test_bad_input_exits_65(deployment: Deployment) -> None:
    code, _, err = run(deployment, "webhooks", "add", "http://127.0.0.1:9/", "--events", "nope")
    assert code == 65 and "unknown event type nope" in err
    code, _, err = run(deployment, "webhooks", "add", "ftp://127.0.0.1/")
    assert code == 65 and "not an http(s) URL" in err
