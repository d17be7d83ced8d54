"""What postroom refuses to put on the wire, and the settings it refuses to start with."""

from __future__ import annotations

import dataclasses

import pytest

from postroom.errors import ConfigError, MalformedCopy
from postroom.outbound import AuthMethod, ConnectionSettings, OutgoingCopy, Timeouts
from postroom.outbound.types import Command


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"rcpt": "b@y.test>\r\nRCPT TO:<evil@z.test"}, "control character"),
        ({"mail_from": "a@x.test\nDATA"}, "control character"),
        ({"rcpt": "<b@y.test>"}, "angle bracket"),
        ({"rcpt": "jörg@y.test"}, "needs SMTPUTF8"),
        ({"rcpt": ""}, "rcpt is empty"),
        ({"data": "Grüße\r\n".encode()}, "8-bit bytes"),
    ],
)
def test_copies_that_would_inject_commands_or_lie_about_their_content(
    changes: dict[str, object], problem: str
) -> None:
    values: dict[str, object] = {"mail_from": "a@x.test", "rcpt": "b@y.test", "data": b"x\r\n"}
    values.update(changes)
    with pytest.raises(MalformedCopy, match=problem):
        OutgoingCopy(**values)  # type: ignore[arg-type]


def test_declared_copies_are_fine() -> None:
    OutgoingCopy("", "jörg@y.test", "Grüße\r\n".encode(), smtputf8=True)
    OutgoingCopy("a@x.test", "b@y.test", "Grüße\r\n".encode(), body_8bit=True)


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="not a TCP port"):
        ConnectionSettings("smtp.example.test", 0)
    with pytest.raises(ConfigError, match="username or the secret is empty"):
        ConnectionSettings("smtp.example.test", 587, auth=AuthMethod.PLAIN, username="u")
    with pytest.raises(ConfigError, match="not a domain"):
        ConnectionSettings("smtp.example.test", 587, ehlo_name="bad name")
    settings = ConnectionSettings("smtp.example.test", 587, secret="hidden")
    assert "hidden" not in repr(settings)


def test_timeouts_follow_rfc_5321_by_phase() -> None:
    timeouts = Timeouts()
    assert timeouts.for_reply(Command.CONNECT) == 300
    assert timeouts.for_reply(Command.MAIL) == timeouts.for_reply(Command.RCPT) == 300
    assert timeouts.for_reply(Command.DATA) == 120
    assert timeouts.for_reply(Command.END_OF_DATA) == 600
    assert timeouts.data_block == 180
    uniform = Timeouts.uniform(1.5)
    assert all(getattr(uniform, f.name) == 1.5 for f in dataclasses.fields(uniform))
