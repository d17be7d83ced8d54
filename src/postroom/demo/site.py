"""One demo installation in a folder: config, SQLite database, forum, catcher, web server,
worker, and (when Dovecot is here) a private IMAP mailbox for the sender's Sent folder."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from postroom.app import Postroom
from postroom.devmail import DevMailUnavailable, ImapServer, start_imap
from postroom.examples.forum.app import Forum
from postroom.settings import load_settings, render_config
from postroom.store import open_database
from postroom.store.migrate import upgrade

HOST = "127.0.0.1"
FORUM_ADDRESS = "forum@forum.localhost"
REPLY_DOMAIN = "reply.localhost"


class DemoClock:
    """Real time plus an offset the demo can move forward (an address expires at once)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def free_port(preferred: int = 0) -> int:
    """``preferred`` when it is free on loopback, else any free port."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port on loopback")


class WebServer:
    """An ASGI app served by uvicorn in a background thread, on loopback."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.port = port
        config = uvicorn.Config(
            app, host=HOST, port=port, log_level="warning", access_log=False, lifespan="auto"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="demo-web", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the web server did not start on {self.url}")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@dataclass
class Site:
    workdir: Path
    room: Postroom
    forum: Forum
    clock: DemoClock
    web_port: int
    catcher_port: int
    imap: ImapServer | None = None
    imap_unavailable: str | None = None
    _stops: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.web_port}"

    def close(self) -> None:
        for stop in reversed(self._stops):
            with contextlib.suppress(Exception):
                stop()
        self._stops.clear()
        if self.imap is not None:
            self.imap.stop()
        self.forum.store.close()
        self.room.close()


def prepare(workdir: Path, *, web_port: int = 8025, catcher_port: int = 2525) -> Site:
    """A fresh installation in ``workdir`` (recreated): config file, migrated SQLite database,
    the catcher account, the forum. Nothing is started yet."""
    # Absolute: the config file's relative paths are read from its own folder, so a relative
    # ``demo-out`` would name demo-out/demo-out/postroom.db there.
    workdir = workdir.absolute()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    web_port, catcher_port = free_port(web_port), free_port(catcher_port)
    db_url = f"sqlite:///{workdir / 'postroom.db'}"
    config = (
        render_config(secret=secrets.token_bytes(32), database_url=db_url, domain=REPLY_DOMAIN)
        .replace('base_url = "http://localhost:8025"', f'base_url = "http://{HOST}:{web_port}"')
        .replace('transport = "outbox"', 'transport = "smtp"')
        .replace("smtp_port = 25", f"smtp_port = {catcher_port}")
        .replace("machine_window_seconds = 15", "machine_window_seconds = 2")
        # The catcher's "Apple prefetch" comes from loopback saying, as a relay in front would,
        # which address it stands for (Apple's); believed only because the demo says so here.
        .replace("forwarded_for = false", "forwarded_for = true")
    )
    config_path = workdir / "postroom.toml"
    config_path.write_text(config, encoding="utf-8")
    config_path.chmod(0o600)
    # The demo's own settings are the file's: `postroom --config demo-out/postroom.toml ...`
    # looks at the same database with the same keys while the demo runs.
    settings = load_settings(config_path, environ={})
    database = open_database(settings.database_url)
    upgrade(database)
    clock = DemoClock()
    room = Postroom(settings, database=database, clock=clock)
    forum = Forum(room, workdir / "forum.db", account="catcher")
    site = Site(workdir, room, forum, clock, web_port, catcher_port)
    try:
        site.imap = start_imap(workdir / "imap", FORUM_ADDRESS)
    except (DevMailUnavailable, OSError) as exc:
        site.imap_unavailable = str(exc)
    return site
