"""`postroom inbound` as an MTA pipe: exit codes per sysexits, nothing lost on outages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import Deployment
from support.messages import bounce, reply
from support.postgres import PrivateCluster, private_cluster


@pytest.fixture
def deployment(tmp_path: Path, sqlite_url: str) -> Deployment:
    deployment = Deployment(tmp_path, sqlite_url)
    assert deployment.run("db", "upgrade").returncode == 0
    return deployment


def test_a_reply_is_handled_and_exits_0(deployment: Deployment) -> None:
    address = deployment.new_address()
    result = deployment.run(
        "inbound", "--recipient", address, "--sender", "ada@example.net", stdin=reply(address)
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().startswith("dispatched")
    assert deployment.posts_text() == ["Sounds good, see you there."]


def test_not_our_address_exits_67(deployment: Deployment) -> None:
    result = deployment.run(
        "inbound", "--recipient", "bob@example.net", stdin=reply("bob@example.net")
    )
    assert result.returncode == 67


def test_mail_to_a_report_address_that_quotes_nothing_of_ours_exits_0(
    deployment: Deployment,
) -> None:
    text = deployment.config.read_text(encoding="utf-8")
    text = text.replace("report_addresses = []", 'report_addresses = ["bounces@app.example.com"]')
    deployment.config.write_text(text, encoding="utf-8")
    result = deployment.run(
        "inbound",
        "--recipient",
        "bounces@app.example.com",
        stdin=bounce("bounces@app.example.com", original="unknown@app.example.com"),
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().startswith("not_ours")


def test_not_an_email_exits_65(deployment: Deployment) -> None:
    result = deployment.run("inbound", stdin=b"\x00\x00garbage")
    assert result.returncode == 65
    assert b"no RFC 5322 header section" in result.stderr


def test_a_broken_config_is_a_temporary_failure_for_the_mta(deployment: Deployment) -> None:
    deployment.config.write_text("[database\n", encoding="utf-8")
    result = deployment.run("inbound", stdin=reply("x@y.example"))
    assert result.returncode == 75
    assert b"postroom.toml" in result.stderr


def test_recipient_from_the_environment_like_postfix_local(deployment: Deployment) -> None:
    address = deployment.new_address()
    env_run = deployment.run  # RECIPIENT is what Postfix local(8) exports to a pipe
    import os

    os.environ["RECIPIENT"] = address
    try:
        result = env_run("inbound", stdin=reply("list@example.net"))
    finally:
        del os.environ["RECIPIENT"]
    assert result.returncode == 0 and deployment.posts_text() == ["Sounds good, see you there."]


@pytest.fixture
def private_pg() -> Iterator[PrivateCluster]:
    with private_cluster() as cluster:
        yield cluster


def test_database_down_exits_75_and_the_retry_succeeds(
    tmp_path: Path, private_pg: PrivateCluster
) -> None:
    deployment = Deployment(tmp_path, private_pg.url)
    assert deployment.run("db", "upgrade").returncode == 0
    address = deployment.new_address(data='{"title": "Outage"}')
    message = reply(address, "Written while the database was down.\n")

    private_pg.stop()
    down = deployment.run("inbound", "--recipient", address, stdin=message)
    assert down.returncode == 75, down.stderr.decode()
    assert b"retry" in down.stderr
    assert deployment.posts_text() == []

    private_pg.start()
    back = deployment.run("inbound", "--recipient", address, stdin=message)
    assert back.returncode == 0, back.stderr.decode()
    assert deployment.posts_text() == ["Written while the database was down."]
    again = deployment.run("inbound", "--recipient", address, stdin=message)
    assert again.returncode == 0 and again.stdout.decode().startswith("duplicate")
    assert len(deployment.posts_text()) == 1


def test_an_oversized_message_is_drained_not_kept_and_the_sender_is_told(
    deployment: Deployment,
) -> None:
    text = deployment.config.read_text().replace(
        "max_message_bytes = 26214400", "max_message_bytes = 65536"
    )
    deployment.config.write_text(text)
    address = deployment.new_address()
    big = reply(address, "x" * 76 + "\n") + b"y" * 76 * 40_000  # about 3 MB
    result = deployment.run(
        "inbound", "--recipient", address, "--sender", "ada@example.net", "--json", stdin=big
    )
    assert result.returncode == 0, result.stderr.decode()
    outcome = json.loads(result.stdout)
    assert outcome["outcome"] == "too_large"
    deployment.send_queued()
    [notice] = list((deployment.root / "outbox").glob("*.eml"))
    body = notice.read_text()
    assert "is 2.9 MB, more than the 0.1 MB we accept" in body
    assert deployment.posts_text() == []
