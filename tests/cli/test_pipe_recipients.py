"""Items 2, 3 and 5 through the MTA pipe: no handlers is a temporary failure that names the
fix; every envelope recipient is handled; a forged address is refused (67), never answered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import Deployment
from support.messages import reply


@pytest.fixture
def deployment(tmp_path: Path, sqlite_url: str) -> Deployment:
    deployment = Deployment(tmp_path, sqlite_url)
    assert deployment.run("db", "upgrade").returncode == 0
    return deployment


def without_app(deployment: Deployment) -> None:
    text = deployment.config.read_text().replace(
        'import = "postroom.examples.forum:room"', '# import = "myapp.mail:room"'
    )
    deployment.config.write_text(text)


def outbox(deployment: Deployment) -> list[Path]:
    deployment.send_queued()
    return sorted((deployment.root / "outbox").glob("*.eml"))


def test_inbound_without_handlers_exits_75_and_says_how_to_name_the_app(
    deployment: Deployment,
) -> None:
    address = deployment.new_address()
    without_app(deployment)
    result = deployment.run("inbound", "--recipient", address, stdin=reply(address))
    assert result.returncode == 75
    assert b"--app package.module:room" in result.stderr and b"Traceback" not in result.stderr
    assert outbox(deployment) == []
    named = deployment.run(
        "--app", "postroom.examples.forum:room", "inbound", "--recipient", address,
        stdin=reply(address),
    )  # fmt: skip
    assert named.returncode == 0 and deployment.posts_text() == ["Sounds good, see you there."]


def test_receive_without_handlers_refuses_to_start(deployment: Deployment) -> None:
    without_app(deployment)
    result = subprocess.run(
        [sys.executable, "-m", "postroom", "receive", "--lmtp", "127.0.0.1:0"],
        env=deployment.env(),
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 78
    assert b"--app package.module:room" in result.stderr and b"Traceback" not in result.stderr


def test_every_recipient_of_a_pipe_delivery_is_handled(deployment: Deployment) -> None:
    first = deployment.new_address(1, '{"title": "One"}')
    second = deployment.new_address(2, '{"title": "Two"}')
    raw = reply(first, "For both of you.\n", headers={"Cc": second})
    result = deployment.run(
        "inbound", "--recipient", first, "--recipient", second, "--json", stdin=raw
    )
    assert result.returncode == 0, result.stderr.decode()
    outcomes = [json.loads(line)["outcome"] for line in result.stdout.splitlines()]
    assert outcomes == ["dispatched", "dispatched"]
    assert deployment.posts_text() == ["For both of you.", "For both of you."]


def test_one_unknown_recipient_among_several_is_reported(deployment: Deployment) -> None:
    good = deployment.new_address(3, '{"title": "Three"}')
    raw = reply("someone@example.net", "Only one of these is real.\n")
    result = deployment.run(
        "inbound", "--recipient", good, "--recipient", "nobody@example.net", stdin=raw
    )
    assert result.returncode == 67
    assert result.stdout.decode().splitlines()[0].startswith("dispatched")
    assert deployment.posts_text() == ["Only one of these is real."]


def forged(address: str) -> str:
    local, _, domain = address.partition("@")
    return local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain


def test_a_forged_address_through_the_pipe_is_refused_and_never_answered(
    deployment: Deployment,
) -> None:
    bad = forged(deployment.new_address())
    result = deployment.run(
        "inbound", "--recipient", bad, "--sender", "victim@example.net", "--json",
        stdin=reply(bad, sender="victim@example.net"),
    )  # fmt: skip
    assert result.returncode == 67, result.stderr.decode()
    recorded = json.loads(result.stdout)
    assert recorded["outcome"] == "invalid_address" and recorded["inbound_id"] is not None
    assert outbox(deployment) == []


def test_a_forged_address_from_an_authenticated_sender_is_answered(
    deployment: Deployment,
) -> None:
    text = deployment.config.read_text().replace(
        "trusted_authserv_ids = []", 'trusted_authserv_ids = ["mx.reply.example.test"]'
    )
    deployment.config.write_text(text)
    bad = forged(deployment.new_address())
    results = "mx.reply.example.test; spf=pass smtp.mailfrom=ada@example.net; dmarc=pass (p=reject) header.from=example.net"  # noqa: E501
    forged_results = "mx.elsewhere.example; dmarc=pass header.from=example.net"
    untrusted = reply(bad, headers={"Authentication-Results": forged_results})
    refused = deployment.run(
        "inbound", "--recipient", bad, "--sender", "ada@example.net", stdin=untrusted
    )
    assert refused.returncode == 67 and outbox(deployment) == []
    trusted = reply(bad, headers={"Authentication-Results": results})
    answered = deployment.run(
        "inbound", "--recipient", bad, "--sender", "ada@example.net", stdin=trusted
    )
    assert answered.returncode == 0, answered.stderr.decode()
    [notice] = outbox(deployment)
    assert b"To: ada@example.net" in notice.read_bytes()
