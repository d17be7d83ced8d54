"""A sans-IO SMTP client connection, modelled on h11: feed it the server's bytes with
:meth:`ClientConnection.receive_data`, take events from :meth:`ClientConnection.next_event`
(a :class:`Replied`, a :class:`ConnectionClosed`, or :data:`NEED_DATA`), and write the bytes its
command methods return. No socket, no clock: every server answer is a plain unit test.

States follow what the client has sent; replies move them on::

    state            sent / received                      next state
    GREETING         220 greeting                         HELLO
    GREETING         another greeting (554)               REFUSED: only QUIT
    HELLO            EHLO or HELO, then 250               READY
    HELLO            EHLO, then 5yz                       HELLO: send HELO (RFC 5321 3.2)
    READY            STARTTLS                             STARTTLS: 220 -> TLS_READY, else READY
    TLS_READY        tls_established()                    HELLO, capabilities forgotten
    READY            AUTH                                 AUTH: 334 -> auth_response(), else READY
    READY            MAIL                                 TRANSACTION
    TRANSACTION      RCPT (any number)                    TRANSACTION
    TRANSACTION      DATA                                 DATA: 354 -> BODY, else TRANSACTION
    BODY             send_body() (content and ".")        READY
    READY/TRANSACTION RSET                                READY
    HELLO/READY/TRANSACTION/REFUSED QUIT                  QUITTING: 221 -> CLOSED
    any              421, end of stream, garbage          CLOSED

PIPELINING (RFC 2920): when the server offers it, a command may be sent before the replies to
earlier ones, except after EHLO, HELO, STARTTLS, AUTH, DATA, NOOP or QUIT, which end a group
(section 3.1); the message content may open a group. Without it every command waits for its
reply (lockstep). Replies are matched to commands in order.
"""

from __future__ import annotations

from collections import deque
from enum import Enum
from typing import Final, Literal, NamedTuple

from postroom.errors import ClientStateError, ProtocolError
from postroom.outbound.capabilities import Capabilities, parse_capabilities
from postroom.outbound.sasl import SaslMechanism, decode_challenge, encode_response
from postroom.outbound.types import Command, Reply
from postroom.outbound.wire import ReplyReader, build_mail, build_rcpt, stuff_message

__all__ = [
    "NEED_DATA",
    "ClientConnection",
    "ConnectionClosed",
    "Event",
    "Replied",
    "State",
]


class State(Enum):
    GREETING = "waiting for the greeting"
    REFUSED = "greeting refused: only QUIT"
    HELLO = "EHLO or HELO next"
    READY = "ready for a transaction"
    STARTTLS = "STARTTLS sent"
    TLS_READY = "negotiate TLS now"
    AUTH = "authenticating"
    TRANSACTION = "in a mail transaction"
    DATA = "DATA sent"
    BODY = "send the message content now"
    QUITTING = "QUIT sent"
    CLOSED = "closed"


# Events are NamedTuples rather than frozen dataclasses: as immutable and typed, and several
# are made per copy, where a frozen dataclass's __init__ costs a microsecond more each.
class Replied(NamedTuple):
    """The server answered ``command``."""

    command: Command
    reply: Reply


class ConnectionClosed(NamedTuple):
    """The session is over: after 221 to QUIT, a 421 (``reply``; RFC 5321 section 3.8, at any
    moment), or the end of the stream. ``unanswered`` are the commands sent that got no reply."""

    reply: Reply | None
    unanswered: tuple[Command, ...]


class _NeedData(Enum):
    NEED_DATA = "need data"


#: next_event() returns this when it needs more bytes from the server.
NEED_DATA: Final = _NeedData.NEED_DATA

Event = Replied | ConnectionClosed | Literal[_NeedData.NEED_DATA]

# RFC 5321 section 4.5.3.1.4: a command line is at most 512 octets with its CRLF.
_MAX_COMMAND_LINE = 512


class ClientConnection:
    """The client side of one SMTP session, as a state machine over bytes."""

    def __init__(self) -> None:
        self.state = State.GREETING
        self.greeting: Reply | None = None
        #: What the last EHLO (or HELO) said the server offers; None before it, and again
        #: after STARTTLS, which makes the client forget it (RFC 3207 section 4.2).
        self.capabilities: Capabilities | None = None
        self.tls = False
        self.authenticated = False
        self._reader = ReplyReader()
        self._pending: deque[Command] = deque([Command.CONNECT])
        self._eof = False
        self._closed: ConnectionClosed | None = None
        # How many commands that end a pipelined group await their reply (RFC 2920 3.1).
        self._enders_pending = 1
        self._mechanism: SaslMechanism | None = None
        self._challenged = False
        self._challenge: bytes | None = None

    # --- input -------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes from the server; ``b""`` means the server closed the stream."""
        if data:
            self._reader.feed(data)
        else:
            self._eof = True

    def next_event(self) -> Event:
        if self._closed is not None:
            return self._closed
        try:
            reply = self._reader.next_reply()
        except ProtocolError:
            self._close(None)
            raise
        if reply is None:
            if self._eof:
                return self._close(None)
            return NEED_DATA
        if not self._pending:
            if reply.code == 421:
                # A server shutting down (or timing the session out) says so unasked.
                return self._close(reply)
            self._close(None)
            raise ProtocolError(f"the server sent a reply nobody asked for: {reply}")
        command = self._pending.popleft()
        if command.ends_group:
            self._enders_pending -= 1
        self._apply(command, reply)
        if reply.code == 421 or (command is Command.QUIT and reply.is_success):
            self._close(reply)
        return Replied(command, reply)

    @property
    def awaiting(self) -> Command | None:
        """The command whose reply comes next (the shell picks its timeout by it)."""
        return self._pending[0] if self._pending else None

    @property
    def pipelining(self) -> bool:
        return self.capabilities is not None and self.capabilities.pipelining

    # --- commands ----------------------------------------------------------------------------

    def ehlo(self, name: str) -> bytes:
        """EHLO (RFC 5321 section 4.1.1.1)."""
        self._expect_state(Command.EHLO, State.HELLO)
        return self._send(Command.EHLO, f"EHLO {name}\r\n".encode(), State.HELLO)

    def helo(self, name: str) -> bytes:
        """HELO, for a server that refused EHLO (RFC 5321 section 3.2)."""
        self._expect_state(Command.HELO, State.HELLO)
        return self._send(Command.HELO, f"HELO {name}\r\n".encode(), State.HELLO)

    def starttls(self) -> bytes:
        """STARTTLS (RFC 3207 section 4)."""
        self._expect_state(Command.STARTTLS, State.READY)
        if self.tls:
            raise ClientStateError("STARTTLS on a connection that already runs TLS")
        return self._send(Command.STARTTLS, b"STARTTLS\r\n", State.STARTTLS)

    def tls_established(self) -> None:
        """The shell finished the TLS handshake: the session starts over with EHLO.

        Bytes that arrived in clear after the 220 would be taken as replies inside TLS; a
        server (or a man in the middle) sending them is refused (RFC 3207 section 5 and the
        STARTTLS injection attacks)."""
        self._expect_state(Command.STARTTLS, State.TLS_READY)
        if self._reader.buffered:
            self._close(None)
            raise ProtocolError(
                "the server sent data after its 220 to STARTTLS and before TLS: an injection "
                "attempt or a broken server; the connection is dropped"
            )
        self.tls = True
        self.capabilities = None
        self.state = State.HELLO

    def auth(self, mechanism: SaslMechanism) -> bytes:
        """AUTH with the mechanism's initial response when the line stays within 512 octets,
        else without it, answering the server's empty challenge (RFC 4954 section 4)."""
        self._expect_state(Command.AUTH, State.READY)
        if self.authenticated:
            raise ClientStateError("AUTH after a successful AUTH (RFC 4954 section 4 forbids it)")
        self._mechanism = mechanism
        initial = mechanism.initial_response()
        line = f"AUTH {mechanism.name}".encode()
        if initial is not None:
            encoded = encode_response(initial) or b"="
            if len(line) + 1 + len(encoded) + 2 <= _MAX_COMMAND_LINE:
                line += b" " + encoded
        return self._send(Command.AUTH, line + b"\r\n", State.AUTH)

    def auth_response(self) -> bytes:
        """The answer to the server's last 334 challenge."""
        if self.state is not State.AUTH or not self._challenged or self._mechanism is None:
            raise ClientStateError("auth_response() without a 334 challenge to answer")
        self._challenged = False
        self._enders_pending += 1
        if self._challenge is None:
            # Not base64: cancel the exchange (RFC 4954 section 4).
            line = b"*"
        else:
            answer = self._mechanism.respond(self._challenge)
            line = b"*" if answer == b"*" else encode_response(answer)
        self._pending.append(Command.AUTH)
        return line + b"\r\n"

    @property
    def auth_details(self) -> str | None:
        """What the server explained in a failed exchange (XOAUTH2's JSON error)."""
        return self._mechanism.details if self._mechanism is not None else None

    def mail(
        self,
        reverse_path: str,
        *,
        size: int | None = None,
        smtputf8: bool = False,
        body_8bit: bool = False,
    ) -> bytes:
        """MAIL FROM with SIZE= when the server takes it (RFC 1870 section 6), SMTPUTF8
        (RFC 6531 section 3.4) and BODY=8BITMIME (RFC 6152 section 3) when asked for."""
        self._expect_state(Command.MAIL, State.READY)
        caps = self.capabilities or Capabilities()
        params: list[str] = []
        if size is not None and caps.size:
            params.append(f"SIZE={size}")
        if body_8bit:
            if not caps.eightbitmime:
                raise ClientStateError("BODY=8BITMIME to a server that does not offer 8BITMIME")
            params.append("BODY=8BITMIME")
        if smtputf8:
            if not caps.smtputf8:
                raise ClientStateError("SMTPUTF8 to a server that does not offer it")
            params.append("SMTPUTF8")
        return self._send(Command.MAIL, build_mail(reverse_path, tuple(params)), State.TRANSACTION)

    def rcpt(self, forward_path: str) -> bytes:
        """RCPT TO; a transaction may carry several."""
        self._expect_state(Command.RCPT, State.TRANSACTION)
        return self._send(Command.RCPT, build_rcpt(forward_path), State.TRANSACTION)

    def data(self) -> bytes:
        self._expect_state(Command.DATA, State.TRANSACTION)
        return self._send(Command.DATA, b"DATA\r\n", State.DATA)

    def send_body(self, message: bytes) -> bytes:
        """The message content after 354, dot-stuffed and terminated (RFC 5321 section 4.5.2).
        ``message`` has CRLF line ends and is not stuffed."""
        if self.state is not State.BODY:
            raise ClientStateError(f"message content in state {self.state.name}: wait for 354")
        return self._send(Command.END_OF_DATA, stuff_message(message), State.READY, check=False)

    def rset(self) -> bytes:
        """RSET: abort the transaction (RFC 5321 section 4.1.1.5)."""
        self._expect_state(Command.RSET, State.READY, State.TRANSACTION)
        return self._send(Command.RSET, b"RSET\r\n", State.READY)

    def noop(self) -> bytes:
        self._expect_state(Command.NOOP, State.READY, State.TRANSACTION)
        return self._send(Command.NOOP, b"NOOP\r\n", self.state)

    def quit(self) -> bytes:
        self._expect_state(Command.QUIT, State.HELLO, State.READY, State.TRANSACTION, State.REFUSED)
        return self._send(Command.QUIT, b"QUIT\r\n", State.QUITTING)

    # --- internals ---------------------------------------------------------------------------

    def _expect_state(self, command: Command, *states: State) -> None:
        if self.state not in states:
            raise ClientStateError(f"{command.label} is not allowed in state {self.state.name}")

    def _send(self, command: Command, line: bytes, new_state: State, check: bool = True) -> bytes:
        if check and self._pending:
            if not self.pipelining:
                raise ClientStateError(
                    f"{command.label} before the reply to {self._pending[0].label}: "
                    "the server does not offer PIPELINING"
                )
            if self._enders_pending:
                ender = next(c for c in self._pending if c.ends_group)
                raise ClientStateError(
                    f"{command.label} before the reply to {ender.label}, "
                    "which ends a pipelined group (RFC 2920 section 3.1)"
                )
        if command.ends_group:
            self._enders_pending += 1
        self._pending.append(command)
        self.state = new_state
        return line

    def _apply(self, command: Command, reply: Reply) -> None:
        code = reply.code
        if command is Command.MAIL or command is Command.RCPT or command is Command.END_OF_DATA:
            return
        if command is Command.DATA:
            if self.state is State.DATA:
                self.state = State.BODY if code == 354 else State.TRANSACTION
        elif command is Command.CONNECT:
            self.greeting = reply
            self.state = State.HELLO if reply.is_success else State.REFUSED
        elif command is Command.EHLO:
            if code == 250:
                self.capabilities = parse_capabilities(reply)
                self.state = State.READY
            else:
                self.state = State.HELLO
        elif command is Command.HELO:
            if code == 250:
                self.capabilities = Capabilities()
                self.state = State.READY
            else:
                self.state = State.HELLO
        elif command is Command.STARTTLS:
            self.state = State.TLS_READY if code == 220 else State.READY
        elif command is Command.AUTH:
            self._apply_auth(reply)
        elif command is Command.QUIT:
            self.state = State.CLOSED

    def _apply_auth(self, reply: Reply) -> None:
        if reply.code == 334:
            self._challenged = True
            self._challenge = decode_challenge(reply.text)
            return
        self._challenged = False
        self.state = State.READY
        self.authenticated = reply.code == 235

    def _close(self, reply: Reply | None) -> ConnectionClosed:
        self.state = State.CLOSED
        self._closed = ConnectionClosed(reply, tuple(self._pending))
        self._pending.clear()
        self._enders_pending = 0
        return self._closed
