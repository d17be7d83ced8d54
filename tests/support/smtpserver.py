"""A scripted SMTP server on loopback, for tests of SMTP clients.

It speaks enough SMTP to take mail (EHLO/HELO, optional PIPELINING, STARTTLS or implicit TLS,
AUTH PLAIN/LOGIN/XOAUTH2, SIZE, MAIL/RCPT/DATA/RSET/NOOP/QUIT) and answers any command as a
test scripts it, attempt after attempt::

    with ScriptedSmtpServer() as server:
        server.on("RCPT", "421 4.7.0 Try again later, closing connection.",
                  "451 4.3.0 Busy", "250 2.1.5 Ok", match="ada@example.test")
        server.on(".", Drop())                  # close instead of answering the final "."
        server.on("DATA", Stall(5))             # answer DATA five seconds late
        ... client connects to server.host, server.port ...
        server.messages                         # what was accepted
        server.commands                         # every command line, in order

Commands are named by their verb ("MAIL", "RCPT", "DATA", "AUTH", "EHLO", ...), plus "CONNECT"
(the greeting) and "." (the answer to the end of the content). ``match`` picks commands whose
argument contains the text (case-insensitive). Each scripted answer is used once, in order;
when a rule's answers run out, the default behaviour applies again. An answer is a reply text
("550 5.1.1 User unknown"), :class:`Drop` (close without answering), :class:`Stall` (wait, then
the default answer) or :class:`Raw` (these bytes instead of a reply). A 421 answer closes the
connection after it is sent, as RFC 5321 section 3.8 says.

Why not aiosmtpd: it cannot close instead of answering, stall one command, send raw garbage or
tell pipelined commands from lockstep ones, which these tests need. This is a small threaded
server over blocking sockets; every connection has its thread, all stopped by ``stop()``.

``pipelined`` lists the commands that arrived before the answer to the previous one was sent,
so a test can check that a client does not pipeline when PIPELINING is not offered.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["Drop", "Raw", "ReceivedMessage", "ScriptedSmtpServer", "Stall"]

_HOST = "127.0.0.1"
_LINE_LIMIT = 1 << 20


@dataclass(frozen=True)
class Drop:
    """Close the connection instead of answering."""


@dataclass(frozen=True)
class Stall:
    """Wait this many seconds (less if the server stops), then answer as by default."""

    seconds: float


@dataclass(frozen=True)
class Raw:
    """Send these bytes instead of a reply."""

    data: bytes


Answer = str | Drop | Stall | Raw


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted transaction: the envelope and the content, dot-stuffing removed."""

    session: int
    mail_from: str
    rcpts: tuple[str, ...]
    data: bytes
    mail_params: str


@dataclass
class _Rule:
    command: str
    match: str | None
    answers: deque[Answer]


@dataclass
class _Session:
    number: int
    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    tls: bool = False
    authenticated: bool = False
    mail_from: str | None = None
    mail_params: str = ""
    rcpts: list[str] = field(default_factory=list)
    #: Bytes of the next command had arrived when the last reply was sent.
    ahead: bool = False


class _Closed(Exception):
    """The client went away, or the script dropped the connection."""


class ScriptedSmtpServer:
    """See the module docstring. ``users`` maps logins to passwords (PLAIN, LOGIN) and
    ``tokens`` logins to OAuth access tokens (XOAUTH2); with either, MAIL needs AUTH first.
    ``tls`` is a server-side SSL context: STARTTLS is offered, or with ``implicit_tls`` the
    whole session is TLS from the first byte."""

    def __init__(
        self,
        *,
        pipelining: bool = True,
        extensions: Iterable[str] = ("8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"),
        size_limit: int | None = 10_485_760,
        users: Mapping[str, str] | None = None,
        tokens: Mapping[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        hostname: str = "scripted.example.test",
    ) -> None:
        self.pipelining = pipelining
        self.extensions = tuple(extensions)
        self.size_limit = size_limit
        self.users = dict(users or {})
        self.tokens = dict(tokens or {})
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.hostname = hostname
        self.host = _HOST
        self.port = 0
        self.commands: list[str] = []
        self.pipelined: list[str] = []
        self.messages: list[ReceivedMessage] = []
        self.sessions = 0
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._queue_ids = itertools.count(1)

    # --- scripting -----------------------------------------------------------------------------

    def on(self, command: str, *answers: Answer, match: str | None = None) -> None:
        """Answer the next ``len(answers)`` matching commands with these, in order."""
        with self._lock:
            self._rules.append(
                _Rule(command.upper(), match.lower() if match else None, deque(answers))
            )

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Block until ``count`` messages were accepted (or fail after ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(self.messages)} of {count} messages after {timeout} s; "
                        f"commands: {self.commands[-10:]}"
                    )
                self._changed.wait(left)
            return list(self.messages)

    # --- running -------------------------------------------------------------------------------

    def start(self) -> ScriptedSmtpServer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((_HOST, 0))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        self.port = listener.getsockname()[1]
        thread = threading.Thread(target=self._accept, name="scripted-smtp", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> ScriptedSmtpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.sessions += 1
                number = self.sessions
                self._open.add(sock)
            thread = threading.Thread(
                target=self._serve, args=(sock, number), name=f"scripted-smtp-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _serve(self, sock: socket.socket, number: int) -> None:
        sock.settimeout(None)
        session = _Session(number, sock)
        try:
            if self.implicit_tls:
                self._wrap(session)
            if self._answer(session, "CONNECT", "", f"220 {self.hostname} ESMTP scripted"):
                while not self._stopping.is_set():
                    self._command(session)
        except (_Closed, OSError, ssl.SSLError):
            pass
        finally:
            with self._lock:
                self._open.discard(session.sock)
            with contextlib.suppress(OSError):
                session.sock.close()

    # --- the dialogue --------------------------------------------------------------------------

    def _command(self, session: _Session) -> None:
        line = self._read_line(session)
        text = line.decode("utf-8", "replace")
        early, session.ahead = session.ahead, False
        verb, _, argument = text.partition(" ")
        verb = verb.upper()
        with self._lock:
            self.commands.append(text)
            if early:
                self.pipelined.append(verb)
        handler = {
            "EHLO": self._ehlo,
            "HELO": self._helo,
            "STARTTLS": self._starttls,
            "AUTH": self._auth,
            "MAIL": self._mail,
            "RCPT": self._rcpt,
            "DATA": self._data,
            "RSET": self._rset,
            "NOOP": lambda s, a: self._answer(s, "NOOP", a, "250 2.0.0 Ok"),
            "QUIT": self._quit,
        }.get(verb)
        if handler is None:
            self._answer(session, verb, argument, "502 5.5.2 Error: command not recognized")
        else:
            handler(session, argument)

    def _ehlo(self, session: _Session, argument: str) -> None:
        lines = [self.hostname]
        if self.pipelining:
            lines.append("PIPELINING")
        if self.size_limit is not None:
            lines.append(f"SIZE {self.size_limit}")
        if self.tls is not None and not session.tls and not self.implicit_tls:
            lines.append("STARTTLS")
        mechanisms = self._mechanisms()
        if mechanisms:
            lines.append("AUTH " + " ".join(mechanisms))
        lines.extend(self.extensions)
        default = "\r\n".join(
            f"250{'-' if i < len(lines) - 1 else ' '}{line}" for i, line in enumerate(lines)
        )
        self._reset(session)
        self._answer(session, "EHLO", argument, default)

    def _helo(self, session: _Session, argument: str) -> None:
        self._reset(session)
        self._answer(session, "HELO", argument, f"250 {self.hostname}")

    def _starttls(self, session: _Session, argument: str) -> None:
        if self.tls is None or session.tls:
            self._answer(session, "STARTTLS", argument, "502 5.5.1 Error: command not implemented")
            return
        if self._answer(session, "STARTTLS", argument, "220 2.0.0 Ready to start TLS"):
            # Anything the client sent in clear after STARTTLS is dropped (RFC 3207 section 5).
            session.buffer.clear()
            self._wrap(session)
            self._reset(session)
            session.authenticated = False

    def _auth(self, session: _Session, argument: str) -> None:
        mechanism, _, initial = argument.partition(" ")
        mechanism = mechanism.upper()
        scripted = self._scripted("AUTH", argument)
        if scripted is not None:
            self._send_answer(session, scripted, None)
            return
        if session.authenticated:
            self._reply(session, "503 5.5.1 Error: already authenticated")
            return
        if mechanism not in self._mechanisms():
            self._reply(session, "504 5.5.4 Unrecognized authentication type")
            return
        if mechanism == "PLAIN":
            message = self._initial(session, initial)
            if message is None:
                return
            parts = message.split(b"\0")
            ok = len(parts) == 3 and self.users.get(parts[1].decode()) == parts[2].decode()
        elif mechanism == "LOGIN":
            user = self._challenge(session, "Username:")
            password = self._challenge(session, "Password:")
            if user is None or password is None:
                return
            ok = self.users.get(user.decode()) == password.decode()
        else:
            message = self._initial(session, initial)
            if message is None:
                return
            fields = dict(
                part.split("=", 1) for part in message.decode().split("\x01") if "=" in part
            )
            user, bearer = fields.get("user", ""), fields.get("auth", "")
            ok = bearer == f"Bearer {self.tokens.get(user)}" and user in self.tokens
            if not ok:
                # Google's XOAUTH2 error: a 334 with base64 JSON, then 535 after the client's
                # empty answer.
                error = b'{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}'
                self._reply(session, "334 " + base64.b64encode(error).decode())
                self._read_line(session)
        if ok:
            session.authenticated = True
            self._reply(session, "235 2.7.0 Authentication successful")
        else:
            self._reply(session, "535 5.7.8 Error: authentication failed")

    def _mail(self, session: _Session, argument: str) -> None:
        address, params = _path(argument, "FROM:")
        default = "250 2.1.0 Ok"
        if (self.users or self.tokens) and not session.authenticated:
            default = "530 5.7.0 Authentication required"
        elif session.mail_from is not None:
            default = "503 5.5.1 Error: nested MAIL command"
        elif address is None:
            default = "501 5.5.4 Syntax: MAIL FROM:<address>"
        else:
            size = _parameter(params, "SIZE")
            if self.size_limit is not None and size is not None and size > self.size_limit:
                default = "552 5.3.4 Error: message file too big"
        answer = self._pick("MAIL", argument, default)
        if self._send_answer(session, answer, default) and address is not None:
            session.mail_from = address
            session.mail_params = params

    def _rcpt(self, session: _Session, argument: str) -> None:
        address, _ = _path(argument, "TO:")
        default = "250 2.1.5 Ok"
        if session.mail_from is None:
            default = "503 5.5.1 Error: need MAIL command"
        elif address is None:
            default = "501 5.5.4 Syntax: RCPT TO:<address>"
        answer = self._pick("RCPT", argument, default)
        if self._send_answer(session, answer, default) and address is not None:
            session.rcpts.append(address)

    def _data(self, session: _Session, argument: str) -> None:
        default = "354 End data with <CR><LF>.<CR><LF>"
        if session.mail_from is None:
            default = "503 5.5.1 Error: need RCPT command"
        elif not session.rcpts:
            # What Postfix answers a pipelined DATA after refused recipients (RFC 2920 3.1).
            default = "554 5.5.1 Error: no valid recipients"
        answer = self._pick("DATA", argument, default)
        if not self._send_answer(session, answer, default):
            return
        content = self._read_content(session)
        queue_id = f"{next(self._queue_ids):06X}"
        default = f"250 2.0.0 Ok: queued as {queue_id}"
        answer = self._pick(".", "", default)
        effective = default if isinstance(answer, Stall) else answer
        positive = isinstance(effective, str) and effective.startswith("2")
        if positive and session.mail_from is not None:
            # Recorded before the answer goes out, so a client that has the answer can count
            # on the message being listed.
            message = ReceivedMessage(
                session.number,
                session.mail_from,
                tuple(session.rcpts),
                content,
                session.mail_params,
            )
            with self._changed:
                self.messages.append(message)
                self._changed.notify_all()
        self._send_answer(session, answer, default)
        self._reset(session)

    def _rset(self, session: _Session, argument: str) -> None:
        self._reset(session)
        self._answer(session, "RSET", argument, "250 2.0.0 Ok")

    def _quit(self, session: _Session, argument: str) -> None:
        self._answer(session, "QUIT", argument, "221 2.0.0 Bye")
        raise _Closed

    # --- answers -------------------------------------------------------------------------------

    def _scripted(self, command: str, argument: str) -> Answer | None:
        lowered = argument.lower()
        with self._lock:
            for rule in self._rules:
                if rule.command != command or not rule.answers:
                    continue
                if rule.match is not None and rule.match not in lowered:
                    continue
                return rule.answers.popleft()
        return None

    def _pick(self, command: str, argument: str, default: str) -> Answer:
        scripted = self._scripted(command, argument)
        return default if scripted is None else scripted

    def _answer(self, session: _Session, command: str, argument: str, default: str) -> bool:
        """Send the scripted or the default answer; True when it was a positive one."""
        return self._send_answer(session, self._pick(command, argument, default), default)

    def _send_answer(self, session: _Session, answer: Answer, default: str | None) -> bool:
        if isinstance(answer, Drop):
            raise _Closed
        if isinstance(answer, Raw):
            session.sock.sendall(answer.data)
            return False
        if isinstance(answer, Stall):
            self._stopping.wait(answer.seconds)
            if default is None:
                raise _Closed
            answer = default
        self._reply(session, answer)
        if answer.startswith("421"):
            raise _Closed
        return answer[:1] in ("2", "3")

    def _reply(self, session: _Session, text: str) -> None:
        session.ahead = bool(session.buffer)
        session.sock.sendall(text.encode() + b"\r\n")

    # --- helpers -------------------------------------------------------------------------------

    def _mechanisms(self) -> list[str]:
        mechanisms = []
        if self.users:
            mechanisms += ["PLAIN", "LOGIN"]
        if self.tokens:
            mechanisms.append("XOAUTH2")
        return mechanisms

    def _initial(self, session: _Session, initial: str) -> bytes | None:
        if not initial:
            return self._challenge(session, "")
        return _decode(initial)

    def _challenge(self, session: _Session, prompt: str) -> bytes | None:
        self._reply(session, "334 " + base64.b64encode(prompt.encode()).decode())
        answer = self._read_line(session)
        if answer == b"*":
            self._reply(session, "501 5.7.0 Authentication aborted")
            return None
        decoded = _decode(answer.decode("ascii", "replace"))
        if decoded is None:
            self._reply(session, "501 5.5.2 Cannot decode response")
        return decoded

    def _wrap(self, session: _Session) -> None:
        assert self.tls is not None
        session.sock.settimeout(10)
        wrapped = self.tls.wrap_socket(session.sock, server_side=True)
        wrapped.settimeout(None)
        with self._lock:
            self._open.discard(session.sock)
            self._open.add(wrapped)
        session.sock = wrapped
        session.tls = True

    @staticmethod
    def _reset(session: _Session) -> None:
        session.mail_from = None
        session.mail_params = ""
        session.rcpts = []

    def _read_line(self, session: _Session) -> bytes:
        while True:
            end = session.buffer.find(b"\n")
            if end >= 0:
                line = bytes(session.buffer[:end]).rstrip(b"\r")
                del session.buffer[: end + 1]
                return line
            if len(session.buffer) > _LINE_LIMIT:
                raise _Closed
            chunk = session.sock.recv(65536)
            if not chunk:
                raise _Closed
            session.buffer += chunk

    def _read_content(self, session: _Session) -> bytes:
        lines: list[bytes] = []
        while True:
            line = self._read_line(session)
            if line == b".":
                break
            # RFC 5321 section 4.5.2: the receiver removes the first of leading dots.
            lines.append(line[1:] if line.startswith(b".") else line)
        return b"".join(line + b"\r\n" for line in lines)


def _path(argument: str, prefix: str) -> tuple[str | None, str]:
    """``FROM:<a@b> SIZE=1`` -> ("a@b", "SIZE=1")."""
    if not argument.upper().startswith(prefix):
        return None, ""
    rest = argument[len(prefix) :].strip()
    if not rest.startswith("<") or ">" not in rest:
        return None, ""
    address, _, params = rest[1:].partition(">")
    return address, params.strip()


def _parameter(params: str, name: str) -> int | None:
    for param in params.split():
        key, _, value = param.partition("=")
        if key.upper() == name and value.isdigit():
            return int(value)
    return None


def _decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
