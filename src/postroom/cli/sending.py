"""Sending commands: ``postroom send`` (queue an email, optionally wait for it) and
``postroom worker`` (deliver queued copies and run the other jobs)."""

from __future__ import annotations

import json
import logging
import mimetypes
import sys
import time
from pathlib import Path

import click

from postroom.cli.base import EX_DATAERR, EX_USAGE, State, errors, fail, main, room_of


@main.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=4,
    show_default=True,
    help="SMTP connections this worker may hold (never more per account than "
    "the account's own limit).",
)
@click.option(
    "--poll",
    "poll_interval",
    type=click.FloatRange(0.05, 60),
    default=1.0,
    show_default=True,
    help="Seconds between looks at the queue when it is idle.",
)
@click.option("--once", is_flag=True, help="Deliver what is due now, run due jobs, then exit.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning"]),
    default="info",
    show_default=True,
)
@click.pass_obj
def worker(
    state: State, concurrency: int, poll_interval: float, once: bool, log_level: str
) -> None:
    """Deliver queued copies and run the other jobs (error emails, daily prune) until stopped.

    SIGTERM or Ctrl-C stops it gracefully: the copy in flight on each connection is finished
    and recorded, the other claimed copies go back to the queue at once. On SQLite run one
    worker; on PostgreSQL any number, on any number of hosts.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    with errors():
        room = room_of(state)
        room.codec  # noqa: B018 - fail now on missing keys, not at the first copy
        if room.database.dialect == "sqlite" and concurrency > 1:
            logging.getLogger("postroom.worker").info(
                "SQLite: one writer at a time, so one worker process (its %d connections "
                "share the lock)",
                concurrency,
            )
        work = room.worker(concurrency=concurrency, poll_interval=poll_interval)
        stats = work.drain() if once else work.run()
    click.echo(f"worker stopped: {stats.copies} copies attempted, {stats.jobs} jobs run", err=True)


def _recipients(values: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for value in values:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


@main.command()
@click.option("--account", required=True, help="The sending account (postroom accounts list).")
@click.option("--to", "to", multiple=True, help="Recipient (repeatable, or comma-separated).")
@click.option("--cc", "cc", multiple=True, help="Cc recipient.")
@click.option("--bcc", "bcc", multiple=True, help="Bcc recipient.")
@click.option("--subject", default="", help="Subject line.")
@click.option(
    "--text",
    "text_file",
    type=click.Path(exists=True, dir_okay=False),
    help="File with the plain-text body ('-' for standard input).",
)
@click.option(
    "--html",
    "html_file",
    type=click.Path(exists=True, dir_okay=False),
    help="File with the HTML body (a text part is derived when --text is absent).",
)
@click.option(
    "--attach",
    "attachments",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Attach a file (repeatable).",
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="NAME:VALUE",
    help="An extra header field on every copy.",
)
@click.option("--reply-handler", help="Replies go to this handler (needs --app).")
@click.option("--reply-data", default="null", help="Session data for --reply-handler (JSON).")
@click.option("--bulk", is_flag=True, help="List or marketing mail: List-Unsubscribe.")
@click.option("--notification", is_flag=True, help="Auto-Submitted: auto-generated.")
@click.option("--no-track", is_flag=True, help="No open pixel, no tracked links.")
@click.option("--wait", is_flag=True, help="Wait until every copy is sent or failed.")
@click.option(
    "--timeout",
    type=click.FloatRange(1),
    default=600,
    show_default=True,
    help="With --wait: give up after this many seconds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def send(
    state: State,
    account: str,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    bcc: tuple[str, ...],
    subject: str,
    text_file: str | None,
    html_file: str | None,
    attachments: tuple[str, ...],
    headers: tuple[str, ...],
    reply_handler: str | None,
    reply_data: str,
    bulk: bool,
    notification: bool,
    no_track: bool,
    wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Queue an email: one copy per recipient, sent by `postroom worker`.

    Exit status: 0 when queued (with --wait: every copy sent), 65 when a copy failed or a
    recipient was skipped, 75 when --wait timed out with copies still waiting.
    """
    from postroom.compose import Attachment, Email, ReplyTo

    if text_file is None and html_file is None:
        fail("give --text FILE or --html FILE (or both)", EX_USAGE)
    text = _read(text_file)
    html = _read(html_file)
    extra: dict[str, str] = {}
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            fail(f"--header {header!r} is not NAME:VALUE", EX_USAGE)
        extra[name.strip()] = value.strip()
    files = []
    for path in attachments:
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        files.append(Attachment(Path(path).name, Path(path).read_bytes(), kind))
    reply = None
    if reply_handler:
        try:
            reply = ReplyTo(reply_handler, data=json.loads(reply_data))
        except json.JSONDecodeError as exc:
            fail(f"--reply-data is not JSON: {exc}", EX_USAGE)
    email = Email(
        account=account,
        to=_recipients(to),
        cc=_recipients(cc),
        bcc=_recipients(bcc),
        subject=subject,
        text=text,
        html=html,
        attachments=files,
        headers=extra,
        reply=reply,
        track=not no_track,
        bulk=bulk,
        notification=notification,
    )
    with errors():
        room = room_of(state, need_app=reply is not None)
        result = room.send(email)
        for skipped in result.skipped:
            click.echo(f"skipped {skipped.address} ({skipped.role}): {skipped.reason}", err=True)
        click.echo(f"queued email #{result.email_id}: {len(result.deliveries)} copies", err=True)
        final = _wait(room, result.email_id, timeout) if wait else None
    if as_json:
        payload: dict[str, object] = {
            "email_id": result.email_id,
            "message_id": result.message_id,
            "deliveries": [
                {"id": c.id, "address": c.address, "role": c.role, "message_id": c.message_id}
                for c in result.deliveries
            ],
            "skipped": [
                {"address": s.address, "role": s.role, "reason": s.reason} for s in result.skipped
            ],
        }
        if final is not None:
            payload["copies"] = [
                {"address": c.address, "status": c.status, "reply": c.last_reply}
                for c in final.copies
            ]
        click.echo(json.dumps(payload))
    if final is not None:
        failed = [c for c in final.copies if c.status == "failed"]
        for copy in failed:
            click.echo(f"failed {copy.address}: {copy.last_reply}", err=True)
        if not final.done:
            sys.exit(75)
        if failed or result.skipped:
            sys.exit(EX_DATAERR)
    elif result.skipped:
        sys.exit(EX_DATAERR)


def _read(path: str | None) -> str | None:
    if path is None:
        return None
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text", EX_USAGE)


def _wait(room: object, email_id: int, timeout: float):  # type: ignore[no-untyped-def]
    """Poll the email's state with a progress bar until every copy is done or time is up."""
    from postroom.app import Postroom

    assert isinstance(room, Postroom)
    state = room.email(email_id)
    total = len([c for c in state.copies if c.status != "skipped"])
    deadline = time.monotonic() + timeout
    last_progress = time.monotonic()
    hinted = False
    finished = 0
    with click.progressbar(length=total, label="sending", file=sys.stderr) as bar:
        while True:
            state = room.email(email_id)
            done = sum(1 for c in state.copies if c.status in ("sent", "failed"))
            if done > finished:
                bar.update(done - finished)
                finished = done
                last_progress = time.monotonic()
            if state.done or time.monotonic() > deadline:
                break
            if not hinted and time.monotonic() - last_progress > 15:
                click.echo("\nno copy has moved for 15 s: is `postroom worker` running?", err=True)
                hinted = True
            time.sleep(0.2)
    counts = state.counts()
    click.echo(", ".join(f"{n} {status}" for status, n in sorted(counts.items())), err=True)
    return state
