"""The stream of copies, sans-IO: which bytes go out in which write, which reply belongs to which
copy, what each copy's result is, and that no copy's final "." is written before the previous
copy's result was taken (crash safety)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pytest

from postroom.errors import ConnectionLost, ExtensionMissing, ProtocolError, SmtpTimeout
from postroom.outbound.pipeline import NEED_COPY, CopyPipeline, Deliver, Receive, Write
from postroom.outbound.protocol import ClientConnection
from postroom.outbound.types import Command, CopyResult, Outcome, OutgoingCopy

PIPELINING = b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250 8BITMIME\r\n"
LOCKSTEP = b"250-mail.example.test\r\n250 8BITMIME\r\n"
GO = b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"


def queued(name: str) -> bytes:
    return f"250 2.0.0 Ok: queued as {name}\r\n".encode()


def copy(n: int, **changes: object) -> OutgoingCopy:
    values: dict[str, object] = {
        "mail_from": "sender@x.test",
        "rcpt": f"r{n}@y.test",
        "data": f"Subject: copy-{n}\r\n\r\nbody of copy-{n}\r\n.hidden dot\r\n".encode(),
        "tag": n,
    }
    values.update(changes)
    return OutgoingCopy(**values)  # type: ignore[arg-type]


def session(ehlo: bytes = PIPELINING) -> ClientConnection:
    conn = ClientConnection()
    conn.receive_data(b"220 mail.example.test ESMTP\r\n")
    conn.next_event()
    conn.ehlo("me.test")
    conn.receive_data(ehlo)
    conn.next_event()
    return conn


@dataclass
class Run:
    log: list[tuple[str, object]] = field(default_factory=list)

    @property
    def writes(self) -> list[bytes]:
        return [item for kind, item in self.log if kind == "write"]  # type: ignore[misc]

    @property
    def results(self) -> list[CopyResult]:
        return [item for kind, item in self.log if kind == "result"]  # type: ignore[misc]

    @property
    def pulled(self) -> int:
        return sum(1 for kind, item in self.log if kind == "pull" and item is not None)

    @property
    def reusable(self) -> bool:
        return self.log[-1] == ("finished", True)

    def assert_crash_safe(self) -> None:
        """Copy n's content is written only after every earlier copy's result was taken."""
        delivered: set[object] = set()
        for kind, item in self.log:
            if kind == "result":
                assert isinstance(item, CopyResult)
                delivered.add(item.copy.tag)
            elif kind == "write":
                assert isinstance(item, bytes)
                for n in range(50):
                    if f"body of copy-{n}".encode() in item:
                        assert set(range(n)) <= delivered, f"copy {n} sent before results"


def drive(
    conn: ClientConnection,
    copies: Iterable[OutgoingCopy],
    answers: Sequence[bytes | Exception],
) -> Run:
    """Run a stream: each Receive gets the next answer (bytes, b"" for the end of the stream,
    or an error the shell would report)."""
    pipeline = CopyPipeline(conn)
    source = iter(copies)
    pending = list(answers)
    run = Run()
    while True:
        action = pipeline.next_action()
        if action is NEED_COPY:
            offered = next(source, None)
            run.log.append(("pull", offered))
            pipeline.offer(offered)
        elif isinstance(action, Write):
            run.log.append(("write", action.data))
        elif isinstance(action, Receive):
            assert pending, f"the client waits for {action.awaiting} but the script is over"
            answer = pending.pop(0)
            if isinstance(answer, Exception):
                pipeline.connection_lost(answer)  # type: ignore[arg-type]
            else:
                pipeline.receive_data(answer)
        elif isinstance(action, Deliver):
            run.log.append(("result", action.result))
        else:
            run.log.append(("finished", action.reusable))
            assert not pending, "answers left over"
            return run


def envelope(n: int, size: int | None = None) -> bytes:
    data = copy(n).data
    return (
        f"MAIL FROM:<sender@x.test> SIZE={size or len(data)}\r\nRCPT TO:<r{n}@y.test>\r\nDATA\r\n"
    ).encode()


def content(n: int) -> bytes:
    return f"Subject: copy-{n}\r\n\r\nbody of copy-{n}\r\n..hidden dot\r\n.\r\n".encode()


def test_pipelined_stream_costs_one_write_per_copy() -> None:
    run = drive(
        session(),
        [copy(0), copy(1), copy(2)],
        [GO, queued("A") + GO, queued("B") + GO, queued("C")],
    )
    assert run.writes == [
        envelope(0),
        content(0) + envelope(1),
        content(1) + envelope(2),
        content(2),
    ]
    assert [r.outcome for r in run.results] == [Outcome.ACCEPTED] * 3
    assert [r.queue_id for r in run.results] == ["A", "B", "C"]
    assert [r.copy.tag for r in run.results] == [0, 1, 2]
    first = run.results[0]
    assert first.mail is not None and first.mail.code == 250
    assert first.rcpt is not None and first.data is not None and first.data.code == 250
    assert run.reusable
    run.assert_crash_safe()


def test_replies_split_at_every_byte_give_the_same_results() -> None:
    stream = [GO, queued("A") + GO, queued("B")]
    split = [bytes([b]) for chunk in stream for b in chunk]
    run = drive(session(), [copy(0), copy(1)], split)
    assert [r.queue_id for r in run.results] == ["A", "B"]
    run.assert_crash_safe()


def test_a_refused_recipient_sends_no_content_then_rset_and_the_next_copy() -> None:
    refused = (
        b"250 2.1.0 Ok\r\n550 5.1.1 <r0@y.test>: Recipient address rejected: User unknown\r\n"
        b"554 5.5.1 Error: no valid recipients\r\n"
    )
    run = drive(session(), [copy(0), copy(1)], [refused, b"250 2.0.0 Ok\r\n" + GO, queued("B")])
    assert run.writes == [envelope(0), b"RSET\r\n" + envelope(1), content(1)]
    gone, sent = run.results
    assert gone.outcome is Outcome.REFUSED and gone.stage is Command.RCPT
    assert gone.reply is not None and gone.reply.code == 550
    assert gone.data is not None and gone.data.code == 554
    assert sent.accepted and run.reusable


def test_a_refused_sender_refuses_the_copy_at_mail() -> None:
    refused = (
        b"553 5.7.1 <sender@x.test>: Sender address rejected: not owned by user\r\n"
        b"503 5.5.1 Error: need MAIL command\r\n503 5.5.1 Error: need RCPT command\r\n"
    )
    run = drive(session(), [copy(0)], [refused, b"250 2.0.0 Ok\r\n"])
    [result] = run.results
    assert result.outcome is Outcome.REFUSED and result.stage is Command.MAIL
    assert run.writes == [envelope(0), b"RSET\r\n"]


def test_421_at_a_recipient_loses_that_copy_only_and_ends_the_stream() -> None:
    closing = queued("A") + b"250 2.1.0 Ok\r\n421 4.7.0 Try again later, closing connection.\r\n"
    run = drive(session(), [copy(0), copy(1), copy(2)], [GO, closing])
    first, second = run.results
    assert first.accepted
    assert second.outcome is Outcome.CONNECTION_LOST
    assert second.rcpt is not None and second.rcpt.code == 421
    assert isinstance(second.error, ConnectionLost)
    assert run.pulled == 2 and not run.reusable


def test_421_answering_the_final_dot_loses_that_copy_and_the_next() -> None:
    run = drive(session(), [copy(0), copy(1)], [GO, b"421 4.3.2 Service shutting down\r\n"])
    lost, next_one = run.results
    assert lost.outcome is Outcome.CONNECTION_LOST and lost.data is not None
    assert lost.data.code == 421
    assert next_one.outcome is Outcome.CONNECTION_LOST and next_one.mail is None


def test_connection_dropped_after_the_content() -> None:
    run = drive(session(), [copy(0)], [GO, b""])
    [lost] = run.results
    assert lost.outcome is Outcome.CONNECTION_LOST and lost.data is None
    assert "closed the connection" in str(lost.error)


def test_closed_mid_reply() -> None:
    run = drive(session(), [copy(0)], [GO, b"250 2.0.0 Ok: que", b""])
    assert run.results[0].outcome is Outcome.CONNECTION_LOST


def test_garbage_mid_stream_loses_the_copies_in_flight() -> None:
    run = drive(session(), [copy(0), copy(1)], [GO, b"HTTP/1.0 200 OK\r\n"])
    assert [r.outcome for r in run.results] == [Outcome.CONNECTION_LOST] * 2
    assert isinstance(run.results[0].error, ProtocolError)


def test_a_354_that_never_comes_times_out() -> None:
    timeout = SmtpTimeout("mail.example.test:587 did not answer DATA within 120 s", "DATA")
    run = drive(session(), [copy(0)], [b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n", timeout])
    [lost] = run.results
    assert lost.outcome is Outcome.CONNECTION_LOST and lost.error is timeout
    assert lost.rcpt is not None and lost.rcpt.code == 250
    assert run.writes == [envelope(0)]


def test_a_250_answering_data_is_a_protocol_error() -> None:
    run = drive(session(), [copy(0)], [b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n"])
    [lost] = run.results
    assert isinstance(lost.error, ProtocolError) and "answered DATA" in str(lost.error)


def test_a_354_despite_a_refused_recipient_gets_an_empty_message() -> None:
    # RFC 2920 section 3.1 says the server must refuse DATA then; if it does not, nothing the
    # client sends may reach anyone.
    broken = b"250 2.1.0 Ok\r\n550 5.1.1 unknown\r\n354 go ahead\r\n"
    run = drive(
        session(), [copy(0), copy(1)], [broken, b"554 5.5.1 no recipients\r\n" + GO, queued("B")]
    )
    assert run.writes[1] == b".\r\n" + envelope(1)
    refused, sent = run.results
    assert refused.outcome is Outcome.REFUSED and sent.accepted


def test_without_pipelining_the_stream_goes_in_lockstep() -> None:
    ok = [b"250 2.1.0 Ok\r\n", b"250 2.1.5 Ok\r\n", b"354 go\r\n", queued("A")]
    run = drive(session(LOCKSTEP), [copy(0), copy(1)], ok + ok)
    # No SIZE extension offered: no SIZE parameter (RFC 1870 section 6).
    assert run.writes[:4] == [
        b"MAIL FROM:<sender@x.test>\r\n",
        b"RCPT TO:<r0@y.test>\r\n",
        b"DATA\r\n",
        content(0),
    ]
    assert len(run.writes) == 8
    assert all(r.accepted for r in run.results)
    run.assert_crash_safe()


def test_lockstep_refusal_at_mail_skips_rcpt_and_data() -> None:
    run = drive(
        session(LOCKSTEP),
        [copy(0), copy(1)],
        [
            b"452 4.3.1 Insufficient system storage\r\n",
            b"250 Ok\r\n",  # RSET
            *(b"250 Ok\r\n", b"250 Ok\r\n", b"354 go\r\n", queued("B")),
        ],
    )
    assert run.writes[:2] == [b"MAIL FROM:<sender@x.test>\r\n", b"RSET\r\n"]
    first, second = run.results
    assert first.outcome is Outcome.REFUSED and first.rcpt is None and second.accepted


def test_a_copy_needing_smtputf8_is_unsupported_without_a_byte_sent() -> None:
    utf8 = copy(1, rcpt="jörg@y.test", smtputf8=True)
    run = drive(session(), [copy(0), utf8, copy(2)], [GO, queued("A") + GO, queued("C")])
    assert [r.copy.tag for r in run.results] == [0, 1, 2]
    assert [r.outcome for r in run.results] == [
        Outcome.ACCEPTED,
        Outcome.UNSUPPORTED,
        Outcome.ACCEPTED,
    ]
    assert isinstance(run.results[1].error, ExtensionMissing)
    assert not any("jörg".encode() in w for w in run.writes)


def test_8bit_content_without_8bitmime_is_unsupported() -> None:
    data = "Subject: x\r\n\r\nGrüße\r\n".encode()
    run = drive(session(b"250-x\r\n250 PIPELINING\r\n"), [copy(0, data=data, body_8bit=True)], [])
    assert run.results[0].outcome is Outcome.UNSUPPORTED and run.writes == []


def test_an_empty_stream_writes_nothing() -> None:
    run = drive(session(), [], [])
    assert run.writes == [] and run.reusable


def test_the_session_carries_a_second_stream() -> None:
    conn = session()
    drive(conn, [copy(0)], [GO, queued("A")])
    run = drive(conn, [copy(1)], [GO, queued("B")])
    assert run.results[0].queue_id == "B"


@pytest.mark.parametrize("count", [1, 7])
def test_results_come_once_per_pulled_copy(count: int) -> None:
    answers = [GO] + [queued(str(i)) + GO for i in range(count - 1)] + [queued("last")]
    run = drive(session(), [copy(i) for i in range(count)], answers)
    assert len(run.results) == run.pulled == count
    run.assert_crash_safe()
