"""`postroom receive`: LMTP and SMTP listeners refuse bad addresses at RCPT, defer on outages."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from postroom.app import Postroom
from postroom.inbound.types import Reply
from postroom.receivers import BackgroundListener
from postroom.store import open_database, repos
from support.messages import bounce, reply


def client(protocol: str, port: int) -> smtplib.SMTP:
    return (
        smtplib.LMTP("127.0.0.1", port, timeout=30)
        if protocol == "lmtp"
        else smtplib.SMTP("127.0.0.1", port, timeout=30)
    )


@pytest.fixture(params=["lmtp", "smtp"])
def listener(request: pytest.FixtureRequest, room: Postroom) -> Iterator[BackgroundListener]:
    running = BackgroundListener(room, protocol=request.param)
    yield running
    running.stop()


def protocol_of(listener: BackgroundListener) -> str:
    return listener.thread.name.removeprefix("postroom-")


def test_a_reply_over_the_wire_is_dispatched(
    listener: BackgroundListener, room: Postroom, received: list[Reply]
) -> None:
    issued = room.create_session("forum", 42, {"topic": 1})
    with client(protocol_of(listener), listener.port) as conn:
        conn.ehlo_or_helo_if_needed()
        conn.mail("ada@example.net")
        assert conn.rcpt(issued.address)[0] == 250
        code, text = conn.data(reply(issued.address))
    assert (code, text) == (250, b"2.0.0 dispatched")
    assert received[0].user_id == 42 and received[0].session_data == {"topic": 1}


def test_a_long_reply_with_crlf_lines_is_received_whole(
    listener: BackgroundListener, room: Postroom, received: list[Reply]
) -> None:
    issued = room.create_session("forum", 42)
    text = "\n".join(f"Line {n} of a long answer." for n in range(400))
    with client(protocol_of(listener), listener.port) as conn:
        conn.ehlo_or_helo_if_needed()
        conn.mail("ada@example.net")
        assert conn.rcpt(issued.address)[0] == 250
        code, _ = conn.data(reply(issued.address, text + "\n"))
    assert code == 250
    assert received[0].text.splitlines()[-1] == "Line 399 of a long answer."


@pytest.mark.parametrize("bad", ["bob@example.net", "reply+zzzz@reply.example.test", "FORGED"])
def test_unknown_and_forged_addresses_are_refused_at_rcpt(
    listener: BackgroundListener, room: Postroom, bad: str
) -> None:
    if bad == "FORGED":
        good = room.create_session("forum", 42).address
        bad = good.replace(good[20], "a" if good[20] != "a" else "b", 1)
    with client(protocol_of(listener), listener.port) as conn:
        conn.ehlo_or_helo_if_needed()
        conn.mail("spammer@example.com")
        code, text = conn.rcpt(bad)
    assert code == 550 and text.startswith(b"5.1.1")


def test_an_unreachable_database_answers_451_so_the_mta_retries(
    listener: BackgroundListener, room: Postroom
) -> None:
    issued = room.create_session("forum", 42)
    room.configure(
        room.settings, database=open_database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    )
    with client(protocol_of(listener), listener.port) as conn:
        conn.ehlo_or_helo_if_needed()
        conn.mail("ada@example.net")
        assert conn.rcpt(issued.address)[0] == 250
        code, text = conn.data(reply(issued.address))
    assert code == 451 and text.startswith(b"4.3.0")


def test_a_report_address_is_accepted_and_its_bounces_count(
    listener: BackgroundListener, room: Postroom
) -> None:
    # The application's own bounce mailbox, routed to the listener (inbound.report_addresses).
    settings = room.settings.clone(report_addresses=("bounces@app.example.com",))
    app = Postroom(settings, transport=room.transport, database=room.database, clock=room.clock)
    app.handler("forum")(lambda reply: None)
    app.remember_sent("n1@app.example.com", user=51, recipient="ada@example.net")
    running = BackgroundListener(app, protocol=protocol_of(listener))
    try:
        answers = []
        for message in (
            bounce("Bounces@App.Example.com", original="n1@app.example.com", mid="r1"),
            reply("bounces@app.example.com", "A person writing to the bounce address."),
        ):
            with client(protocol_of(listener), running.port) as conn:
                conn.ehlo_or_helo_if_needed()
                conn.mail("")
                assert conn.rcpt("Bounces@App.Example.com")[0] == 250
                answers.append(conn.data(message))
    finally:
        running.stop()
    assert answers == [(250, b"2.0.0 bounce_recorded"), (250, b"2.0.0 not_ours")]
    with room.database.transaction() as tx:
        score = repos.get_bounce_score(tx, 51)
        assert score is not None and score.hard_count == 1
