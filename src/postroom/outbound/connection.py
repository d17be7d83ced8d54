"""The blocking socket shell around the sans-IO client: connect, TLS, EHLO, AUTH, and streams of
copies. All protocol decisions live in :mod:`.protocol` and :mod:`.pipeline`; this module only
moves bytes, keeps time (RFC 5321 section 4.5.3.2) and turns socket and TLS failures into
errors that name the fix.

Usage::

    with SmtpConnection.open(settings) as conn:
        print(conn.capabilities.describe())
        for result in conn.deliver(copies):
            record(result)          # the next copy's final "." waits until this returns

To stop a stream cleanly, let the iterable of copies end; abandoning the generator midway
closes the connection, since its transaction state is then unknown.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterable, Iterator

from postroom.errors import (
    AuthFailed,
    AuthUnavailable,
    ClientStateError,
    ConnectFailed,
    ConnectionLost,
    OutboundError,
    ProtocolError,
    SmtpTimeout,
    TlsFailed,
)
from postroom.outbound.capabilities import Capabilities
from postroom.outbound.pipeline import NEED_COPY, CopyPipeline, Deliver, Receive, Write
from postroom.outbound.protocol import NEED_DATA, ClientConnection, ConnectionClosed, State
from postroom.outbound.sasl import build_mechanism
from postroom.outbound.types import (
    AuthMethod,
    Command,
    ConnectionSettings,
    CopyResult,
    OutgoingCopy,
    Reply,
    Security,
)

__all__ = ["SmtpConnection"]

_RECV_SIZE = 262144
# QUIT is a courtesy: do not let a silent server hold the caller for the full command timeout.
_QUIT_WAIT = 5.0
# RFC 5321 section 3.2: a server that does not know EHLO answers 500, 502 or 504 (550 too).
_EHLO_UNKNOWN = frozenset({500, 502, 504, 550})


class SmtpConnection:
    """One SMTP session over TCP, set up by :meth:`open`. One thread uses it at a time (a
    pool hands a connection to one worker thread)."""

    def __init__(self, settings: ConnectionSettings, sock: socket.socket) -> None:
        self.settings = settings
        self._sock: socket.socket | None = sock
        self._protocol = ClientConnection()
        self._timeout: float | None = None
        self._streaming = False

    # --- setting up --------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: ConnectionSettings) -> SmtpConnection:
        """Connect, read the greeting, EHLO (HELO if refused), STARTTLS or implicit TLS as set,
        EHLO again, and log in. Raises ConnectFailed, TlsFailed, AuthFailed, AuthUnavailable,
        SmtpTimeout, ConnectionLost or ProtocolError, each naming the phase and the fix."""
        sock = _connect(settings)
        connection = cls(settings, sock)
        try:
            connection._set_up()
        except BaseException:
            connection._abort()
            raise
        return connection

    def _set_up(self) -> None:
        settings = self.settings
        protocol = self._protocol
        if settings.security is Security.TLS:
            self._start_tls()
        greeting = self._reply_to(Command.CONNECT)
        if not greeting.is_success:
            self._quit_quietly()
            raise ConnectFailed(f"{settings.endpoint} refused the session: {greeting}")
        self._hello()
        if settings.security is Security.STARTTLS:
            if not self.capabilities.starttls:
                self._quit_quietly()
                raise TlsFailed(
                    f"{settings.endpoint} does not offer STARTTLS, and postroom does not send "
                    "logins or mail in clear text: use security 'tls' if the server takes "
                    "implicit TLS (usually port 465), or 'none' for a relay on a trusted network"
                )
            self._send(protocol.starttls())
            reply = self._reply_to(Command.STARTTLS)
            if reply.code != 220:
                self._quit_quietly()
                raise TlsFailed(f"{settings.endpoint} refused STARTTLS: {reply}")
            protocol.tls_established()
            self._start_tls()
            self._hello()
        if settings.auth is not AuthMethod.NONE:
            self._log_in()

    def _hello(self) -> None:
        protocol = self._protocol
        name = self.settings.ehlo_name or _address_literal(self._socket())
        self._send(protocol.ehlo(name))
        reply = self._reply_to(Command.EHLO)
        if reply.code == 250:
            return
        if reply.code in _EHLO_UNKNOWN:
            self._send(protocol.helo(name))
            reply = self._reply_to(Command.HELO)
            if reply.code == 250:
                return
        self._quit_quietly()
        raise ConnectFailed(f"{self.settings.endpoint} refused EHLO {name}: {reply}")

    def _start_tls(self) -> None:
        settings = self.settings
        context = _tls_context(settings)
        server_name = settings.tls_server_name or settings.host
        sock = self._socket()
        self._set_timeout(settings.timeouts.command)
        try:
            self._sock = context.wrap_socket(sock, server_hostname=server_name)
        except ssl.SSLCertVerificationError as error:
            raise TlsFailed(
                f"the certificate of {server_name} is not valid: {error.verify_message}; "
                "fix the host name or pass a CA file (ca_file)"
            ) from error
        except ssl.SSLError as error:
            hint = ""
            if settings.security is Security.TLS:
                hint = (
                    "; if this port expects STARTTLS (usually 587 or 25), "
                    "set security to 'starttls'"
                )
            raise TlsFailed(
                f"TLS with {settings.endpoint} failed: {error.reason or error}{hint}"
            ) from error
        except TimeoutError as error:
            raise SmtpTimeout(
                f"the TLS handshake with {settings.endpoint} did not finish within "
                f"{settings.timeouts.command:g} s",
                phase="TLS handshake",
            ) from error
        except OSError as error:
            raise ConnectionLost(
                f"the connection to {settings.endpoint} failed during the TLS handshake: {error}"
            ) from error

    def _log_in(self) -> None:
        settings = self.settings
        protocol = self._protocol
        capabilities = protocol.capabilities or Capabilities()
        mechanism = build_mechanism(settings.auth, settings.username, settings.secret)
        if mechanism.name not in capabilities.auth_mechanisms:
            offered = " ".join(sorted(capabilities.auth_mechanisms))
            if offered:
                advice = f"it offers {offered}: choose one of those"
            elif not self.tls:
                advice = "it offers no AUTH at all; many servers offer it only after STARTTLS"
            else:
                advice = "it offers no AUTH at all: is this the submission port (587 or 465)?"
            self._quit_quietly()
            raise AuthUnavailable(
                f"{settings.endpoint} does not offer AUTH {mechanism.name}; {advice}"
            )
        self._send(protocol.auth(mechanism))
        while True:
            reply = self._reply_to(Command.AUTH)
            if reply.code == 334:
                self._send(protocol.auth_response())
                continue
            if reply.code == 235:
                return
            self._quit_quietly()
            raise AuthFailed(
                _explain_auth_failure(settings, reply, protocol.auth_details),
                reply,
                protocol.auth_details,
            )

    # --- public ------------------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        """What the server offers, from the last EHLO (after STARTTLS: the second one)."""
        return self._protocol.capabilities or Capabilities()

    @property
    def greeting(self) -> Reply | None:
        return self._protocol.greeting

    @property
    def tls(self) -> bool:
        return isinstance(self._sock, ssl.SSLSocket)

    @property
    def usable(self) -> bool:
        """True while the session can carry another stream of copies."""
        return self._sock is not None and self._protocol.state is State.READY

    def deliver(self, copies: Iterable[OutgoingCopy]) -> Iterator[CopyResult]:
        """Submit each copy in its own transaction; yield one result per copy, in order.

        A copy's result is yielded as soon as the server answered its final "."; the next
        copy's content is only written once the consumer asks for the next result. A dropped
        connection, a timeout, garbage or a 421 yields CONNECTION_LOST for the copies in flight
        and ends the stream (the connection is then closed: open a new one).
        """
        if self._streaming:
            raise ClientStateError("deliver() while another stream runs on this connection")
        if not self.usable:
            raise ConnectionLost(
                f"the connection to {self.settings.endpoint} is closed: open a new one"
            )
        self._streaming = True
        return self._stream(iter(copies))

    def _stream(self, copies: Iterator[OutgoingCopy]) -> Iterator[CopyResult]:
        pipeline = CopyPipeline(self._protocol)
        clean = False
        try:
            while True:
                action = pipeline.next_action()
                if action is NEED_COPY:
                    pipeline.offer(next(copies, None))
                elif isinstance(action, Write):
                    try:
                        self._send(action.data, data_block=True)
                    except OutboundError as error:
                        pipeline.connection_lost(error)
                elif isinstance(action, Receive):
                    try:
                        self._receive(action.awaiting)
                    except OutboundError as error:
                        pipeline.connection_lost(error)
                elif isinstance(action, Deliver):
                    yield action.result
                else:
                    clean = action.reusable
                    return
        finally:
            self._streaming = False
            if not clean:
                self._abort()

    def noop(self) -> Reply:
        """NOOP: a cheap check that a pooled session still answers."""
        self._require_ready()
        self._send(self._protocol.noop())
        return self._reply_to(Command.NOOP)

    def close(self) -> None:
        """QUIT (waiting briefly for 221), then close the socket. Safe to call twice."""
        if self._sock is None:
            return
        if self._protocol.state in (State.READY, State.HELLO, State.TRANSACTION, State.REFUSED):
            self._quit_quietly()
        self._abort()

    def __enter__(self) -> SmtpConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- bytes and time ----------------------------------------------------------------------

    def _socket(self) -> socket.socket:
        if self._sock is None:
            raise ConnectionLost(f"the connection to {self.settings.endpoint} is closed")
        return self._sock

    def _require_ready(self) -> None:
        if self._streaming or not self.usable:
            raise ConnectionLost(
                f"the connection to {self.settings.endpoint} is not ready: open a new one"
            )

    def _set_timeout(self, seconds: float) -> None:
        if seconds != self._timeout:
            self._socket().settimeout(seconds)
            self._timeout = seconds

    def _send(self, data: bytes, *, data_block: bool = False) -> None:
        timeouts = self.settings.timeouts
        sock = self._socket()
        self._set_timeout(timeouts.data_block if data_block else timeouts.command)
        try:
            sock.sendall(data)
        except TimeoutError as error:
            raise SmtpTimeout(
                f"{self.settings.endpoint} did not take the data within "
                f"{self._timeout:g} s (RFC 5321 section 4.5.3.2)",
                phase="sending",
            ) from error
        except OSError as error:
            raise ConnectionLost(
                f"the connection to {self.settings.endpoint} broke while sending: {error}"
            ) from error

    def _receive(self, awaiting: Command) -> None:
        seconds = self.settings.timeouts.for_reply(awaiting)
        sock = self._socket()
        self._set_timeout(seconds)
        try:
            data = sock.recv(_RECV_SIZE)
        except TimeoutError as error:
            raise SmtpTimeout(
                f"{self.settings.endpoint} did not answer {awaiting.label} within {seconds:g} s "
                "(RFC 5321 section 4.5.3.2)",
                phase=awaiting.label,
            ) from error
        except OSError as error:
            raise ConnectionLost(
                f"the connection to {self.settings.endpoint} broke while waiting for the reply "
                f"to {awaiting.label}: {error}"
            ) from error
        self._protocol.receive_data(data)

    def _reply_to(self, command: Command) -> Reply:
        """The reply to ``command`` during set-up, or an error naming the phase."""
        protocol = self._protocol
        while True:
            event = protocol.next_event()
            if event is NEED_DATA:
                self._receive(protocol.awaiting or command)
                continue
            if isinstance(event, ConnectionClosed):
                self._abort()
                if event.reply is not None and command is Command.CONNECT:
                    raise ConnectFailed(
                        f"{self.settings.endpoint} is not taking sessions now: {event.reply}"
                    )
                said = f": {event.reply}" if event.reply is not None else ""
                raise ConnectionLost(
                    f"{self.settings.endpoint} closed the connection during {command.label}{said}"
                )
            if event.command is not command:
                raise ProtocolError(
                    f"reply to {event.command.label} while expecting {command.label}"
                )
            if event.reply.code == 421:
                self._abort()
                if command is Command.CONNECT:
                    raise ConnectFailed(
                        f"{self.settings.endpoint} is not taking sessions now: {event.reply}"
                    )
                raise ConnectionLost(
                    f"{self.settings.endpoint} is closing the connection at {command.label}: "
                    f"{event.reply}"
                )
            return event.reply

    def _quit_quietly(self) -> None:
        if self._sock is None:
            return
        with contextlib.suppress(OutboundError, OSError):
            self._set_timeout(min(self.settings.timeouts.command, _QUIT_WAIT))
            self._sock.sendall(self._protocol.quit())
            self._reply_to(Command.QUIT)

    def _abort(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


def _connect(settings: ConnectionSettings) -> socket.socket:
    endpoint = settings.endpoint
    seconds = settings.timeouts.connect
    try:
        sock = socket.create_connection((settings.host, settings.port), timeout=seconds)
    except socket.gaierror as error:
        raise ConnectFailed(
            f"cannot resolve {settings.host} ({error.strerror}): check the host name"
        ) from error
    except ConnectionRefusedError as error:
        raise ConnectFailed(
            f"{endpoint} refused the connection: is the server running, and is the port right?"
        ) from error
    except TimeoutError as error:
        raise SmtpTimeout(
            f"connecting to {endpoint} timed out after {seconds:g} s: check the host, the port "
            "and any firewall",
            phase="connect",
        ) from error
    except OSError as error:
        raise ConnectFailed(f"cannot connect to {endpoint}: {error.strerror or error}") from error
    # Each pipelined group is one write; Nagle's algorithm would hold it back for an ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _tls_context(settings: ConnectionSettings) -> ssl.SSLContext:
    # Certificate and host name checks on, TLS 1.2 or later: the library's secure defaults.
    try:
        return ssl.create_default_context(cafile=settings.ca_file)
    except (OSError, ssl.SSLError) as error:
        raise TlsFailed(
            f"the CA file {settings.ca_file} cannot be used: {error}; give a PEM file of "
            "CA certificates"
        ) from error


def _address_literal(sock: socket.socket) -> str:
    # RFC 5321 section 4.1.3: an address literal when no domain name is configured.
    address = sock.getsockname()[0]
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def _explain_auth_failure(settings: ConnectionSettings, reply: Reply, details: str | None) -> str:
    """The server's refusal, and what the operator should do about it. Texts are the
    providers' own: Microsoft 365's basic-auth retirement (550 5.7.30) and SMTP AUTH switch
    (535 5.7.139); Gmail's 534 5.7.9 (app password) and 535 5.7.8 (bad credentials)."""
    who = f"{settings.endpoint} refused the login of {settings.username}: {reply}"
    text = reply.text.lower()
    enhanced = str(reply.enhanced) if reply.enhanced is not None else ""
    if enhanced == "5.7.30" or "basic authentication is not supported" in text:
        return f"{who}: Microsoft 365 no longer takes passwords here; use XOAUTH2"
    if enhanced == "5.7.139":
        return (
            f"{who}: SMTP AUTH is turned off for this mailbox or tenant; an administrator must "
            "enable Authenticated SMTP (or use XOAUTH2 if basic authentication is disabled)"
        )
    if reply.is_transient:
        return f"{who}: a temporary failure; try again later"
    if settings.auth is AuthMethod.XOAUTH2:
        explained = f" ({details})" if details else ""
        return f"{who}{explained}: the access token was refused; refresh it and retry once"
    if enhanced == "5.7.9" or "application-specific password" in text:
        return f"{who}: this account needs an app password (or XOAUTH2)"
    if enhanced in ("5.7.11", "5.7.0") and "encrypt" in text:
        return f"{who}: the server wants TLS before this login; use security 'starttls' or 'tls'"
    return f"{who}: check the username and password; Gmail needs an app password or XOAUTH2"
