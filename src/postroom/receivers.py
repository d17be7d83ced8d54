"""LMTP (RFC 2033) and SMTP (RFC 5321) listeners in front of the inbound pipeline, and a
Postfix access policy service (:mod:`postroom.inbound.policy`) for MTAs that keep the mail.

Addresses are checked at RCPT time with the stateless HMAC check only, so unknown and forged
addresses are refused with ``550 5.1.1`` before any data is accepted: the sending MTA tells
its sender, and postroom never emits backscatter. The pipeline runs in a worker thread per
message; a database outage answers ``451 4.3.0`` so the MTA keeps the mail and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, AnyStr

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from postroom.errors import (
    AddressError,
    MessageInProgress,
    StoreUnavailable,
    UnparseableMessage,
)
from postroom.inbound.policy import DUNNO, PolicyReader, answer, decide

if TYPE_CHECKING:
    from postroom.app import Postroom

log = logging.getLogger("postroom.receive")


def parse_hostport(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6); the port is 0 (any free one) to 65535."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:2525)")
    if int(port) > 65535:
        raise ValueError(f"port {port} of {value!r} is not a TCP port (0 to 65535)")
    return host.strip("[]"), int(port)


class LMTPServer(LMTP):
    """aiosmtpd's LMTP server, with one reply per accepted recipient for every outcome of
    DATA (RFC 2033 section 4.2): aiosmtpd itself answers an over-long line or an oversized
    message once, and a client waiting for the second reply would hang."""

    _after_data_start = False

    async def smtp_DATA(self, arg: str) -> None:
        try:
            await super().smtp_DATA(arg)
        finally:
            self._after_data_start = False

    async def push(self, status: AnyStr) -> None:
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
        if text.startswith("354"):
            self._after_data_start = True
            await super().push(status)
            return
        recipients = len(self.envelope.rcpt_tos) if self.envelope is not None else 0
        if self._after_data_start and "\r\n" not in text and recipients > 1:
            # One reply from aiosmtpd for the whole message: repeat it for every recipient.
            # (The handler's own answer already holds one line per recipient.)
            self._after_data_start = False
            for _ in range(recipients):
                await super().push(status)
            return
        self._after_data_start = False
        await super().push(status)


class InboundHandler:
    """aiosmtpd handler: RCPT check, then the pipeline for each accepted recipient."""

    def __init__(self, room: Postroom) -> None:
        self.room = room

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        codec = self.room.codec
        if address.lower() in self.room.settings.report_addresses:
            # A bounce mailbox of the application's: reports quoting our copies count.
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"
        if not codec.is_ours(address):
            return f"550 5.1.1 <{address}>: recipient unknown here"
        try:
            codec.decode(address)
        except AddressError:
            return f"550 5.1.1 <{address}>: not a valid reply address"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        raw = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
        sender = envelope.mail_from or ""
        loop = asyncio.get_running_loop()
        answers = []
        for rcpt in envelope.rcpt_tos:
            answers.append(await loop.run_in_executor(None, self._process, raw, rcpt, sender))
        if isinstance(server, LMTP):
            # RFC 2033 section 4.2: one reply per accepted recipient, in RCPT order. aiosmtpd
            # pushes our string followed by CRLF, so joining the replies with CRLF sends each
            # as its own response line (its LMTP class would otherwise answer only once).
            return "\r\n".join(answers)
        # SMTP has one reply for the whole transaction: the worst one wins, so a deferral
        # makes the MTA retry (the recipient already handled is then seen as a duplicate).
        return max(answers, key=lambda a: a[0])

    def _process(self, raw: bytes, rcpt: str, sender: str) -> str:
        try:
            result = self.room.receive(raw, recipients=[rcpt], sender=sender)
        except UnparseableMessage as exc:
            return f"554 5.6.0 {exc}"
        except (StoreUnavailable, MessageInProgress) as exc:
            log.warning("deferring mail for %s: %s", rcpt, exc)
            return "451 4.3.0 temporary failure, please try again later"
        except Exception:
            log.exception("unexpected failure for %s; deferring", rcpt)
            return "451 4.3.0 temporary failure, please try again later"
        log.info("%s -> %s (#%s)", rcpt, result.outcome, result.inbound_id)
        return f"250 2.0.0 {result.outcome}"


def _factory(protocol: str, handler: InboundHandler, limit: int) -> Callable[[], SMTP]:
    server_class = LMTPServer if protocol == "lmtp" else SMTP

    def make() -> SMTP:
        return server_class(
            handler,
            data_size_limit=limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname="postroom",
            ident="postroom",
        )

    return make


async def start_server(room: Postroom, *, protocol: str, host: str, port: int) -> asyncio.Server:
    """Start listening; returns the asyncio server (``server.sockets`` has the bound port).
    ``protocol`` is ``lmtp``, ``smtp`` or ``policy`` (the Postfix access policy service)."""
    loop = asyncio.get_running_loop()
    if protocol == "policy":
        return await asyncio.start_server(_policy_client(room), host=host, port=port)
    handler = InboundHandler(room)
    limit = room.settings.max_message_bytes
    return await loop.create_server(_factory(protocol, handler, limit), host=host, port=port)


def _policy_client(
    room: Postroom,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    codec, reports = room.codec, room.settings.report_addresses

    async def serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests = PolicyReader()
        try:
            while data := await reader.read(65536):
                for request in requests.feed(data):
                    action = decide(request, codec, reports)
                    if action != DUNNO:
                        log.info("policy: %s", action)
                    writer.write(answer(action))
                await writer.drain()
        except (ValueError, ConnectionError) as exc:
            log.warning("policy client dropped: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return serve_client


class ListenError(OSError):
    """A listener cannot be started (port in use, address not on this host, no permission)."""


def serve(room: Postroom, listeners: Sequence[tuple[str, str, int]]) -> None:
    """Run listeners, each ``(protocol, host, port)``, until SIGTERM or SIGINT. Raises
    :class:`ListenError` naming the address when one cannot be bound."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def main() -> None:
        servers = []
        try:
            for protocol, host, port in listeners:
                try:
                    server = await start_server(room, protocol=protocol, host=host, port=port)
                except OSError as exc:
                    raise ListenError(
                        f"cannot listen for {protocol.upper()} on {host}:{port} "
                        f"({exc.strerror or exc}): choose a free port on an address of this "
                        "host (e.g. 127.0.0.1)"
                    ) from None
                servers.append(server)
                bound = server.sockets[0].getsockname()
                log.info("listening for %s on %s:%s", protocol.upper(), bound[0], bound[1])
                name = protocol.upper() if protocol != "policy" else "the Postfix policy service"
                print(f"postroom: listening for {name} on {bound[0]}:{bound[1]}", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
        finally:
            for server in servers:
                server.close()
                await server.wait_closed()

    asyncio.run(main())


class BackgroundListener:
    """A listener on a free loopback port in a daemon thread (for the demo and tests)."""

    def __init__(self, room: Postroom, *, protocol: str = "lmtp", host: str = "127.0.0.1") -> None:
        self.room = room
        self.host = host
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self._server = self.loop.run_until_complete(
                    start_server(room, protocol=protocol, host=host, port=0)
                )
            except BaseException as exc:  # surfaced to the constructor's caller below
                failure.append(exc)
                ready.set()
                return
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name=f"postroom-{protocol}", daemon=True)
        self.thread.start()
        if not ready.wait(10) or failure:
            raise RuntimeError(f"the {protocol} listener did not start: {failure}")

    def stop(self) -> None:
        """Close the listener and its open connections, then end the thread."""

        async def shutdown() -> None:
            self._server.close()
            current = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._server.wait_closed()

        done = asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        with contextlib.suppress(Exception):
            done.result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
