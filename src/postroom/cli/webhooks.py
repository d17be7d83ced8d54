"""``postroom webhooks``: endpoints events (or one module's replies) are POSTed to (add,
list, test, enable, remove).

``add`` prints the endpoint's signing secret once on standard output alone (so
``SECRET=$(postroom webhooks add URL)`` captures it); the receiver verifies with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from postroom.cli.base import EX_DATAERR, EX_NOUSER, State, errors, fail, main, room_of
from postroom.errors import WebhookError


@contextmanager
def webhook_errors() -> Iterator[None]:
    """postroom's errors as exit codes; WebhookError (a bad URL, type or secret) is 65."""
    with errors():
        try:
            yield
        except WebhookError as exc:
            fail(str(exc), EX_DATAERR)


def _json(record: Any) -> dict[str, Any]:
    return {
        "id": record.id,
        "url": record.url,
        "events": list(record.event_types),
        "handler": record.handler,
        "description": record.description,
        "created_at": record.created_at.isoformat(),
        "failing_since": record.failing_since.isoformat() if record.failing_since else None,
        "disabled_at": record.disabled_at.isoformat() if record.disabled_at else None,
        "disabled_reason": record.disabled_reason,
    }


@main.group()
def webhooks() -> None:
    """Webhook endpoints: events, or a module's replies, POSTed signed (Standard Webhooks)."""


@webhooks.command("add")
@click.argument("url")
@click.option(
    "--events",
    "events",
    multiple=True,
    help="Event types to receive (repeat, or 'bounced,replied'); none: every type.",
)
@click.option("--handler", help="Serve this module's replies at URL instead of events.")
@click.option("--secret", help="whsec_... to sign with (default: a new one).")
@click.option("--description", default="", help="What the endpoint is for.")
@click.option("--json", "as_json", is_flag=True, help="The endpoint and its secret as JSON.")
@click.pass_obj
def webhooks_add(
    state: State,
    url: str,
    events: tuple[str, ...],
    handler: str | None,
    secret: str | None,
    description: str,
    as_json: bool,
) -> None:
    """Add an endpoint at URL and print its signing secret once."""
    types = [t for value in events for t in value.replace(",", " ").split()]
    with webhook_errors():
        room = room_of(state)
        record = room.webhooks.add(
            url, events=types, handler=handler, secret=secret, description=description
        )
    if as_json:
        click.echo(json.dumps({**_json(record), "secret": record.secret}))
        return
    click.echo(record.secret)
    what = f"replies of {handler}" if handler else ", ".join(record.event_types) or "every event"
    click.echo(
        f"webhook #{record.id} {record.url} ({what}): its secret is shown this once",
        err=True,
    )


@webhooks.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per endpoint.")
@click.pass_obj
def webhooks_list(state: State, as_json: bool) -> None:
    """List endpoints (never their secrets)."""
    with webhook_errors():
        found = room_of(state).webhooks.list()
    if as_json:
        for record in found:
            click.echo(json.dumps(_json(record)))
        return
    if not found:
        click.echo("no webhook endpoints; add one with `postroom webhooks add URL`")
    for record in found:
        what = (
            f"replies of {record.handler}"
            if record.handler
            else ", ".join(record.event_types) or "every event"
        )
        state_text = (
            f"disabled {record.disabled_at:%Y-%m-%d %H:%M}: {record.disabled_reason}"
            if record.disabled_at
            else f"failing since {record.failing_since:%Y-%m-%d %H:%M}"
            if record.failing_since
            else "ok"
        )
        click.echo(f"#{record.id} {record.url} ({what}); {state_text}")


def _endpoint_id(room: Any, endpoint_id: int) -> Any:
    record = room.webhooks.get(endpoint_id)
    if record is None:
        fail(f"there is no webhook endpoint #{endpoint_id} (postroom webhooks list)", EX_NOUSER)
    return record


@webhooks.command("test")
@click.argument("endpoint_id", type=int)
@click.pass_obj
def webhooks_test(state: State, endpoint_id: int) -> None:
    """POST a signed test message to endpoint ENDPOINT_ID now; exit 69 when it fails."""
    with webhook_errors():
        room = room_of(state)
        _endpoint_id(room, endpoint_id)
        result = room.webhooks.test(endpoint_id)
    click.echo(f"webhook #{endpoint_id} {result.msg_id}: {result.detail}")
    if not result.ok:
        raise SystemExit(69)


@webhooks.command("enable")
@click.argument("endpoint_id", type=int)
@click.pass_obj
def webhooks_enable(state: State, endpoint_id: int) -> None:
    """Deliver to disabled endpoint ENDPOINT_ID again (events from now on)."""
    with webhook_errors():
        room = room_of(state)
        _endpoint_id(room, endpoint_id)
        changed = room.webhooks.enable(endpoint_id)
    click.echo(f"webhook #{endpoint_id} " + ("enabled" if changed else "was not disabled"))


@webhooks.command("remove")
@click.argument("endpoint_id", type=int)
@click.pass_obj
def webhooks_remove(state: State, endpoint_id: int) -> None:
    """Remove endpoint ENDPOINT_ID and its messages."""
    with webhook_errors():
        room = room_of(state)
        _endpoint_id(room, endpoint_id)
        room.webhooks.remove(endpoint_id)
    click.echo(f"webhook #{endpoint_id} removed")
