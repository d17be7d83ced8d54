"""Item 5: the Postfix access policy service refuses forged and unknown addresses of the reply
domain at RCPT, and leaves every other recipient to Postfix (Postfix's SMTPD_POLICY_README
protocol, over a real socket)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from postroom.app import Postroom
from postroom.inbound.policy import PolicyReader
from postroom.receivers import BackgroundListener


@pytest.fixture
def policy(room: Postroom) -> Iterator[BackgroundListener]:
    service = BackgroundListener(room, protocol="policy")
    yield service
    service.stop()


def ask(port: int, *recipients: str) -> list[str]:
    """One connection, one request per recipient (Postfix reuses the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        for rcpt in recipients:
            conn.sendall(
                (
                    "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
                    f"sender=ada@example.net\nrecipient={rcpt}\nclient_address=127.0.0.1\n\n"
                ).encode()
            )
        answers = []
        with conn.makefile("rb") as reader:
            for _ in recipients:
                line = reader.readline().decode().rstrip("\n")
                assert reader.readline() == b"\n"
                answers.append(line)
        return answers


def test_forged_and_unknown_addresses_are_refused_others_left_to_postfix(
    policy: BackgroundListener, room: Postroom
) -> None:
    good = room.create_session("forum", 42).address
    forged = good[:-25] + ("a" if good[-25] != "a" else "b") + good[-24:]
    answers = ask(
        policy.port, good, forged, "postmaster@reply.example.test", "bob@elsewhere.example"
    )
    assert answers[0] == "action=DUNNO"
    assert answers[1].startswith("action=550 5.1.1") and "not a valid reply address" in answers[1]
    assert answers[2].startswith("action=550 5.1.1") and "unknown" in answers[2]
    assert answers[3] == "action=DUNNO"


def test_the_reader_splits_requests_however_the_bytes_arrive() -> None:
    reader = PolicyReader()
    data = b"request=smtpd_access_policy\nrecipient=a@b.example\n\nrequest=x\n\n"
    requests = [r for i in range(len(data)) for r in reader.feed(data[i : i + 1])]
    assert requests == [
        {"request": "smtpd_access_policy", "recipient": "a@b.example"},
        {"request": "x"},
    ]
