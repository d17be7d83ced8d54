"""``postroom inbound``: one message from an MTA pipe, read on standard input.

An MTA starts a new process for every message it pipes, so this path is kept lean: the
command-line framework is never imported for it (``postroom.cli.run`` dispatches here first)
and the store is reached through the database driver alone. High volume belongs to the
LMTP listener (``postroom receive --lmtp``), one process for all messages.

Exit codes follow sysexits(3): 0 handled (or deliberately ignored), 67 not one of our
addresses (or a reply address that does not verify), 65 not an email message, 75 temporary
failure: the MTA keeps the message and retries, nothing is lost. With several recipients
each is handled, and the exit code is the most severe of theirs (75, then 67).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from postroom.errors import (
    ConfigError,
    MessageInProgress,
    PostroomError,
    StoreUnavailable,
    UnparseableMessage,
)

if TYPE_CHECKING:
    from postroom.app import Postroom
    from postroom.inbound.types import InboundResult

EX_OK, EX_USAGE, EX_DATAERR, EX_NOUSER, EX_TEMPFAIL = 0, 64, 65, 67, 75
# Which exit code wins when several recipients end differently.
_SEVERITY = {EX_TEMPFAIL: 3, EX_NOUSER: 2, EX_DATAERR: 1, EX_OK: 0}

USAGE = """\
Usage: postroom [--config FILE] [--app MODULE:ROOM] inbound [OPTIONS] < message

  Handle one message from standard input (for an MTA pipe).

Options:
  --recipient ADDRESS  Envelope recipient (Postfix pipe: ${recipient}). Repeatable;
                       default: $RECIPIENT.
  --sender ADDRESS     Envelope sender (Postfix pipe: ${sender}); default: $SENDER.
  --json               Print each result as JSON.
  -h, --help           Show this message and exit.
"""


@dataclass(frozen=True, slots=True)
class PipeArguments:
    recipients: tuple[str, ...] = ()
    sender: str | None = None
    as_json: bool = False


class UsageError(ValueError):
    """The command line of ``postroom inbound`` is wrong."""


def parse_arguments(argv: Sequence[str], environ: Mapping[str, str]) -> PipeArguments:
    """``inbound``'s own options (after the subcommand name)."""
    recipients: list[str] = []
    sender: str | None = None
    as_json = False
    items = list(argv)
    while items:
        item = items.pop(0)
        name, eq, value = item.partition("=")
        if name in ("--recipient", "--sender"):
            if not eq:
                if not items:
                    raise UsageError(f"{name} needs a value")
                value = items.pop(0)
            if name == "--recipient":
                recipients.append(value)
            else:
                sender = value
        elif item == "--json":
            as_json = True
        else:
            raise UsageError(f"no such option: {item}")
    if not recipients and environ.get("RECIPIENT"):
        recipients = environ["RECIPIENT"].split()  # what Postfix local(8) exports to a pipe
    if sender is None:
        sender = environ.get("SENDER")
    return PipeArguments(tuple(recipients), sender, as_json)


def load_room(config: str | None, app: str | None, *, need_handlers: bool) -> Postroom:
    """The application's Postroom object (from --app or [app] import), configured.

    ``need_handlers``: refuse to go on without a handler, as every reply would then end as
    ``unknown_module`` and its sender be told the reply is not accepted."""
    from postroom.app import Postroom, load_app
    from postroom.settings import load_settings

    settings = load_settings(config)
    spec = app or settings.app
    room = load_app(spec) if spec else Postroom()
    if need_handlers and not room.handlers.names() and not serves_urls(settings):
        problem = (
            f"{spec} registers no handler"
            if spec
            else "no application is configured, so no handler would take the replies"
        )
        raise ConfigError(
            "app.import",
            problem,
            "pass --app package.module:room (the Postroom object your handlers are "
            "registered on) before the command, or set [app] import in postroom.toml",
        )
    # The command line is the edge: the settings it loaded are the ones that apply.
    return room.configure(settings)


def serves_urls(settings: Any) -> bool:
    """Whether a module is served by a URL (a webhook endpoint with a handler): then the
    application needs no Python handler. One query, on the driver alone."""
    from postroom.store.driver import Connector
    from postroom.store.inbound import handler_endpoints

    connector = Connector(settings.database_url)
    try:
        with connector.unit() as driver:
            return bool(handler_endpoints(driver))
    except PostroomError:
        return False
    finally:
        connector.close()


def read_bounded(stream: BinaryIO, limit: int) -> tuple[bytes, int]:
    """At most ``limit + 1`` bytes of ``stream`` and its whole size: an oversized message is
    drained (so the MTA's pipe does not break) but never held in memory."""
    raw = stream.read(limit + 1)
    size = len(raw)
    if size > limit:
        while chunk := stream.read(1 << 20):
            size += len(chunk)
    return raw, size


def exit_code(result: InboundResult, recipient: str | None, reports: Sequence[str]) -> int:
    """The sysexits code for one recipient's result."""
    outcome = str(result.outcome)
    if outcome == "not_ours":
        # Mail to one of inbound.report_addresses that quotes no copy of ours is ignored.
        return EX_OK if recipient is not None and recipient.lower() in reports else EX_NOUSER
    if outcome == "invalid_address" and result.notice is None and result.user_id is None:
        return EX_NOUSER  # refused, and not answered: see inbound.authresults
    return EX_OK


def handle(
    arguments: PipeArguments,
    *,
    config: str | None,
    app: str | None,
    stdin: BinaryIO,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Run ``postroom inbound``; returns the exit code."""

    def say(message: str) -> None:
        print(f"postroom: {message}", file=stderr)

    try:
        room = load_room(config, app, need_handlers=True)
        raw, size = read_bounded(stdin, room.settings.max_message_bytes)
    except (ConfigError, StoreUnavailable) as exc:
        say(f"{exc}; the MTA keeps the message and retries")
        return EX_TEMPFAIL
    except Exception as exc:  # anything else: keep the mail queued rather than lose it
        say(f"temporary failure ({type(exc).__name__}: {exc}); the MTA will retry")
        return EX_TEMPFAIL
    reports = room.settings.report_addresses
    codes: list[int] = []
    for recipient in arguments.recipients or (None,):
        try:
            result = room.receive(
                raw,
                recipients=[recipient] if recipient is not None else [],
                sender=arguments.sender,
                size=size,
            )
        except UnparseableMessage as exc:
            say(str(exc))
            return EX_DATAERR
        except (StoreUnavailable, MessageInProgress) as exc:
            say(f"{exc}; the MTA will retry")
            codes.append(EX_TEMPFAIL)
            continue
        except Exception as exc:
            say(f"temporary failure ({type(exc).__name__}: {exc}); the MTA will retry")
            codes.append(EX_TEMPFAIL)
            continue
        if arguments.as_json:
            print(json.dumps(result.to_json()), file=stdout)
        else:
            number = f" (#{result.inbound_id})" if result.inbound_id else ""
            print(f"{result.outcome}{number}", file=stdout)
        codes.append(exit_code(result, recipient, reports))
    return max(codes, key=_SEVERITY.__getitem__)


def main(argv: Sequence[str], *, config: str | None, app: str | None) -> int:
    """``postroom inbound ARGS``, parsed here (the lean path)."""
    try:
        arguments = parse_arguments(argv, os.environ)
    except UsageError as exc:
        print(f"postroom: {exc}\n\n{USAGE}", file=sys.stderr, end="")
        return EX_USAGE
    return handle(
        arguments,
        config=config,
        app=app,
        stdin=sys.stdin.buffer,
        stdout=sys.stdout,
        stderr=sys.stderr,
    )
