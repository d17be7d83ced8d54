"""Sans-IO driver for a stream of copies over one established session: which bytes to write
when, which replies belong to which copy, and when a copy's result is final.

The shell asks :meth:`CopyPipeline.next_action` what to do and obeys:

- :data:`NEED_COPY`: pull the next copy from the caller and :meth:`~CopyPipeline.offer` it
  (None when there are no more);
- :class:`Write`: send these bytes (one write per pipelined group);
- :class:`Receive`: read from the server and :meth:`~CopyPipeline.receive_data` (or report
  :meth:`~CopyPipeline.connection_lost`); ``awaiting`` says whose reply is due (the timeout);
- :class:`Deliver`: hand the result to the consumer, and only then ask for the next action;
- :class:`Finished`: the stream is over; ``reusable`` says whether the session can carry more.

With PIPELINING (RFC 2920) a copy's MAIL, RCPT and DATA go in one write, and the end of one
copy's content is followed in the same write by the next copy's MAIL, RCPT and DATA (section
3.1: the message content may open a group), so each copy costs one round trip. Without it,
lockstep. Crash safety: copy k+1's content (and its final ".") is only produced after copy k's
:class:`Deliver` has been taken, so at most one copy is accepted by the server and not yet
recorded by the caller. A copy refused at MAIL or RCPT gets 503/554 to its DATA; its content is
never sent; RSET clears the transaction and the stream goes on.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from enum import Enum
from typing import Final, Literal, NamedTuple

from postroom.errors import (
    ClientStateError,
    ConnectionLost,
    ExtensionMissing,
    OutboundError,
    ProtocolError,
)
from postroom.outbound.capabilities import Capabilities
from postroom.outbound.protocol import NEED_DATA, ClientConnection, ConnectionClosed, State
from postroom.outbound.types import Command, CopyResult, Outcome, OutgoingCopy, Reply

__all__ = ["NEED_COPY", "Action", "CopyPipeline", "Deliver", "Finished", "Receive", "Write"]


# Actions are NamedTuples: immutable and typed, and cheaper to make than frozen dataclasses
# (a few are made per copy).
class Write(NamedTuple):
    data: bytes


class Receive(NamedTuple):
    awaiting: Command


class Deliver(NamedTuple):
    result: CopyResult


class Finished(NamedTuple):
    reusable: bool


class _NeedCopy(Enum):
    NEED_COPY = "need copy"


NEED_COPY: Final = _NeedCopy.NEED_COPY

Action = Write | Receive | Deliver | Finished | Literal[_NeedCopy.NEED_COPY]
_Steps = Generator[Action, None, None]

# First digits a reply may have, per command: anything else means client and server no longer
# agree on which reply answers what, and nothing further can be trusted.
_COMPLETION = (2, 4, 5)
_GO_AHEAD = (3, 4, 5)
_ENVELOPE = ((Command.MAIL, _COMPLETION), (Command.RCPT, _COMPLETION), (Command.DATA, _GO_AHEAD))


class _Lost(Exception):
    def __init__(
        self, error: OutboundError, command: Command | None = None, reply: Reply | None = None
    ) -> None:
        self.error = error
        self.command = command
        self.reply = reply


class _Flight:
    """A copy whose commands are on the wire, and the replies it got so far."""

    __slots__ = ("body_sent", "copy", "data", "go_ahead", "mail", "rcpt")

    def __init__(self, copy: OutgoingCopy) -> None:
        self.copy = copy
        self.mail: Reply | None = None
        self.rcpt: Reply | None = None
        self.data: Reply | None = None
        self.go_ahead = False
        self.body_sent = False

    def record(self, command: Command, reply: Reply) -> None:
        if command is Command.MAIL:
            self.mail = reply
        elif command is Command.RCPT:
            self.rcpt = reply
        elif command is Command.DATA and reply.code == 354:
            self.go_ahead = True
        else:
            self.data = reply

    @property
    def envelope_accepted(self) -> bool:
        return (
            self.mail is not None
            and self.mail.is_success
            and self.rcpt is not None
            and self.rcpt.is_success
        )

    def result(self) -> CopyResult:
        accepted = (
            self.body_sent
            and self.envelope_accepted
            and self.data is not None
            and self.data.is_success
        )
        outcome = Outcome.ACCEPTED if accepted else Outcome.REFUSED
        return CopyResult(self.copy, outcome, self.mail, self.rcpt, self.data)

    def lost(self, error: OutboundError) -> CopyResult:
        return CopyResult(
            self.copy, Outcome.CONNECTION_LOST, self.mail, self.rcpt, self.data, error
        )


class CopyPipeline:
    """Drives one stream of copies over a :class:`ClientConnection` in state READY."""

    def __init__(self, connection: ClientConnection) -> None:
        if connection.state is not State.READY:
            raise ClientStateError(
                f"a stream of copies needs a session in state READY, not {connection.state.name}"
            )
        self._connection = connection
        self._capabilities = connection.capabilities or Capabilities()
        self._offered: OutgoingCopy | None = None
        self._lost: OutboundError | None = None
        self._deferred: list[CopyResult] = []
        self._flights: list[_Flight] = []
        self._finished: Finished | None = None
        self._steps: Iterator[Action] = self._run()

    def next_action(self) -> Action:
        if self._finished is not None:
            return self._finished
        action = next(self._steps)
        if isinstance(action, Finished):
            self._finished = action
        return action

    def offer(self, copy: OutgoingCopy | None) -> None:
        """The caller's next copy, or None: there are no more."""
        self._offered = copy

    def receive_data(self, data: bytes) -> None:
        self._connection.receive_data(data)

    def connection_lost(self, error: OutboundError) -> None:
        """The shell could not read or write (timeout, reset): every copy in flight is lost."""
        self._lost = error

    # --- the stream --------------------------------------------------------------------------

    def _run(self) -> _Steps:
        try:
            if self._connection.pipelining:
                yield from self._pipelined()
            else:
                yield from self._lockstep()
        except _Lost as lost:
            # A 421 answering a copy's command is that copy's answer (the oldest copy in
            # flight, as replies come in order).
            if (
                lost.reply is not None
                and lost.command is not None
                and lost.command is not Command.RSET
                and self._flights
            ):
                self._flights[0].record(lost.command, lost.reply)
            for flight in self._flights:
                yield Deliver(flight.lost(lost.error))
            self._flights.clear()
            yield from self._deliver_deferred()
            yield Finished(reusable=False)
            return
        yield Finished(reusable=True)

    def _pipelined(self) -> _Steps:
        connection = self._connection
        head = yield from self._next_flight()
        if head is None:
            return
        yield Write(self._envelope(head.copy))
        while head is not None:
            for command, classes in _ENVELOPE:
                reply = self._poll(command, classes)
                while reply is None:
                    yield Receive(command)
                    reply = self._poll(command, classes)
                head.record(command, reply)
            if head.go_ahead:
                successor = yield from self._next_flight()
                chunks = [connection.send_body(self._content(head))]
                if successor is not None:
                    chunks.append(self._envelope(successor.copy))
                head.body_sent = True
                yield Write(b"".join(chunks))
                reply = self._poll(Command.END_OF_DATA, _COMPLETION)
                while reply is None:
                    yield Receive(Command.END_OF_DATA)
                    reply = self._poll(Command.END_OF_DATA, _COMPLETION)
                head.record(Command.END_OF_DATA, reply)
                yield from self._finish(head)
            else:
                yield from self._finish(head)
                successor = yield from self._next_flight()
                chunks = [connection.rset()]
                if successor is not None:
                    chunks.append(self._envelope(successor.copy))
                yield Write(b"".join(chunks))
                yield from self._expect_rset()
            head = successor

    def _lockstep(self) -> _Steps:
        connection = self._connection
        while True:
            head = yield from self._next_flight()
            if head is None:
                return
            copy = head.copy
            yield Write(self._mail(copy))
            mail = yield from self._expect(head, Command.MAIL)
            if mail.is_success:
                yield Write(connection.rcpt(copy.rcpt))
                rcpt = yield from self._expect(head, Command.RCPT)
                if rcpt.is_success:
                    yield Write(connection.data())
                    yield from self._expect(head, Command.DATA)
            if head.go_ahead:
                head.body_sent = True
                yield Write(connection.send_body(copy.data))
                yield from self._expect(head, Command.END_OF_DATA)
                yield from self._finish(head)
            else:
                yield from self._finish(head)
                yield Write(connection.rset())
                yield from self._expect_rset()

    # --- steps -------------------------------------------------------------------------------

    def _next_flight(self) -> Generator[Action, None, _Flight | None]:
        """Pull copies until one can be sent here; the others are answered UNSUPPORTED (after
        the copies before them, so results come in the caller's order)."""
        while True:
            self._offered = None
            yield NEED_COPY
            copy, self._offered = self._offered, None
            if copy is None:
                return None
            problem = self._missing_extension(copy)
            if problem is None:
                flight = _Flight(copy)
                self._flights.append(flight)
                return flight
            result = CopyResult(copy, Outcome.UNSUPPORTED, error=ExtensionMissing(problem))
            if self._flights:
                self._deferred.append(result)
            else:
                yield Deliver(result)

    def _missing_extension(self, copy: OutgoingCopy) -> str | None:
        caps = self._capabilities
        if copy.smtputf8 and not caps.smtputf8:
            return (
                "the server does not offer SMTPUTF8 (RFC 6531), which this copy needs for its "
                "non-ASCII addresses or header fields"
            )
        if copy.body_8bit and not caps.eightbitmime:
            return (
                "the server does not offer 8BITMIME (RFC 6152), which this copy's 8-bit "
                "content needs: encode its parts as quoted-printable or base64"
            )
        return None

    def _mail(self, copy: OutgoingCopy) -> bytes:
        return self._connection.mail(
            copy.mail_from,
            size=len(copy.data),
            smtputf8=copy.smtputf8,
            body_8bit=copy.body_8bit,
        )

    def _envelope(self, copy: OutgoingCopy) -> bytes:
        connection = self._connection
        return self._mail(copy) + connection.rcpt(copy.rcpt) + connection.data()

    @staticmethod
    def _content(flight: _Flight) -> bytes:
        # A server that says 354 although it refused the recipient (RFC 2920 section 3.1
        # forbids that) gets an empty message, which it cannot deliver to anyone.
        return flight.copy.data if flight.envelope_accepted else b""

    def _finish(self, flight: _Flight) -> _Steps:
        self._flights.remove(flight)
        yield Deliver(flight.result())
        yield from self._deliver_deferred()

    def _deliver_deferred(self) -> _Steps:
        while self._deferred:
            yield Deliver(self._deferred.pop(0))

    def _expect(self, flight: _Flight, command: Command) -> Generator[Action, None, Reply]:
        classes = _GO_AHEAD if command is Command.DATA else _COMPLETION
        reply = self._poll(command, classes)
        while reply is None:
            yield Receive(command)
            reply = self._poll(command, classes)
        flight.record(command, reply)
        return reply

    def _expect_rset(self) -> _Steps:
        reply = self._poll(Command.RSET, _COMPLETION)
        while reply is None:
            yield Receive(Command.RSET)
            reply = self._poll(Command.RSET, _COMPLETION)
        if not reply.is_success:
            raise _Lost(ProtocolError(f"the server refused RSET: {reply}"))

    def _poll(self, command: Command, classes: tuple[int, ...]) -> Reply | None:
        """The reply to ``command`` if it has arrived, else None (read more and ask again).
        A lost connection, garbage or a reply of the wrong kind raises _Lost."""
        if self._lost is not None:
            raise _Lost(self._lost)
        try:
            event = self._connection.next_event()
        except ProtocolError as error:
            raise _Lost(error) from error
        if event is NEED_DATA:
            return None
        if isinstance(event, ConnectionClosed):
            if event.reply is not None:
                raise _Lost(ConnectionLost(f"the server closed the connection: {event.reply}"))
            raise _Lost(
                ConnectionLost(
                    f"the server closed the connection while postroom waited for the "
                    f"reply to {command.label}"
                )
            )
        if event.command is not command:
            raise ClientStateError(
                f"reply to {event.command.label} while expecting {command.label}"
            )
        reply = event.reply
        if reply.code == 421:
            raise _Lost(
                ConnectionLost(f"the server is closing the connection: {reply}"), command, reply
            )
        if reply.code // 100 not in classes:
            raise _Lost(ProtocolError(f"the server answered {command.label} with {reply}"))
        return reply
