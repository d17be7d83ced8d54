"""``postroom serve``: the tracking endpoints, the API, the dashboard, /metrics and /healthz,
and the local mail catcher when the ``[catcher]`` settings call for it."""

from __future__ import annotations

import click

from postroom.cli.base import EX_USAGE, State, check_range, errors, fail, main, room_of


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8025, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=int, help="HTTP worker processes.")
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error", "off"]),
)
@click.pass_obj
def serve(state: State, host: str, port: int, workers: int, log_level: str) -> None:
    """Serve the tracking endpoints (/t/o, /t/c, /t/u), the API (/api), the dashboard (/),
    /metrics and /healthz; with the embedded SQLite database and no sending account yet, the
    local mail catcher too (SMTP on catcher.host:catcher.port; [catcher] enabled = on/off).

    Hits are judged and written by the event sink in this process (at least every
    tracking.flush_interval_ms; spooled to tracking.spool_dir while the database is down).
    SIGTERM or SIGINT stops gracefully: requests in flight are answered and every hit is
    written before the command returns."""
    check_range("--port", port, 1, 65535)
    check_range("--workers", workers, 1, 64)
    if not host:
        fail("--host must not be empty", EX_USAGE)
    from postroom.catcher.embedded import embedded_catcher_reason, start_embedded_catcher
    from postroom.web.serving import serve as run

    with errors():
        room = room_of(state)
        room.codec  # noqa: B018 - fail now on missing keys, not at the first request
        wanted, why = embedded_catcher_reason(room)
        catcher = start_embedded_catcher(room) if wanted else None
        if catcher is not None:
            click.echo(
                f"mail catcher (SMTP) on {catcher.host}:{catcher.port} ({why}); "
                "its inboxes are in the dashboard",
                err=True,
            )
        try:
            run(
                room,
                config=state.config,
                app=state.app,
                host=host,
                port=port,
                workers=workers,
                log_level=log_level,
            )
        finally:
            if catcher is not None:
                catcher.stop()
