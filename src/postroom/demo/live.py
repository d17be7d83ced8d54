"""``postroom demo``: serve + worker + catcher on SQLite with the forum seeded, until Ctrl-C."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from postroom.catcher import Catcher
from postroom.demo.sent import add_catcher_account
from postroom.demo.site import HOST, Site, WebServer, prepare


def demo_app(site: Site) -> object:
    """What ``postroom serve`` serves (tracking endpoints, API, dashboard, catcher views),
    and the forum's own page at ``/forum``."""
    from postroom.examples.forum.web import forum_routes
    from postroom.web.app import build_app
    from postroom.web.dashboard import dashboard_routes

    return build_app(site.room, routes=[*forum_routes(site.forum), *dashboard_routes(site.room)])


@contextmanager
def started(
    workdir: Path,
    *,
    web_port: int = 0,
    catcher_port: int = 0,
    worker: bool = False,
    out: Callable[[str], None] = print,
) -> Iterator[Site]:
    """A prepared site with the catcher and the web server running (and the worker in a
    thread when ``worker``); everything is stopped on the way out."""
    site = prepare(workdir, web_port=web_port, catcher_port=catcher_port)
    try:
        catcher = Catcher(site.room, HOST, site.catcher_port)
        catcher.start()
        site._stops.append(catcher.stop)
        add_catcher_account(site)
        web = WebServer(demo_app(site), site.web_port)
        web.start()
        site._stops.append(web.stop)
        out(f"postroom demo in {workdir}/ (SQLite database, config postroom.toml, forum.db)")
        out(f"web app (dashboard, API, tracking): {web.url}")
        out(f"the forum's own page: {web.url}/forum")
        out(f"mail catcher (SMTP): {HOST}:{site.catcher_port}")
        if site.imap is not None:
            out(f"private Dovecot IMAP for the sender's Sent folder: {HOST}:{site.imap.port}")
        else:
            out(f"no Sent folder: {site.imap_unavailable}")
        if worker:
            running = site.room.worker(concurrency=2)
            thread = threading.Thread(
                target=running.run, kwargs={"signals": False}, name="demo-worker", daemon=True
            )
            thread.start()

            def stop_worker() -> None:
                running.stop()
                thread.join(timeout=30)

            site._stops.append(stop_worker)
        yield site
    finally:
        site.close()


def seed(site: Site) -> None:
    """A small forum: members, two topics with posts (mail to the catcher), a digest."""
    forum = site.forum
    ada = forum.join("Ada Lovelace", "ada@example.net")
    bob = forum.join("Bob", "bob@example.net")
    cy = forum.join("Cy", "cy@example.net")
    dee = forum.join("Dee", "dee@example.net", mail="digest")
    meetup = forum.start_topic("Tuesday meetup", ada.id, "Who is coming on Tuesday?")
    for member in (bob, cy, dee):
        forum.subscribe(member.id, meetup.id)
    forum.post(meetup.id, ada.id, "I'll bring the projector. Reply to tell us what you bring!")
    talks = forum.start_topic("Talk schedule", bob.id, "Talks start at 7 pm sharp.")
    forum.subscribe(dee.id, talks.id)
    forum.subscribe(cy.id, talks.id)
    forum.post(talks.id, bob.id, "Slides will be online afterwards.")
    forum.send_digest(dee.id)


def run_live(
    workdir: Path, *, web_port: int, catcher_port: int, out: Callable[[str], None] = print
) -> int:
    """Run until Ctrl-C (or SIGTERM); 0 after a clean stop."""
    from postroom.access.users import add_user

    stop = threading.Event()
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with started(
        workdir, web_port=web_port, catcher_port=catcher_port, worker=True, out=out
    ) as site:
        password = secrets.token_urlsafe(15)  # 20 characters: above the 15 add_user asks for
        add_user(site.room.database, "demo", password, now=site.room.clock())
        seed(site)
        out("")
        out(f"Open {site.url}/ and log in as demo / {password}")
        out("The forum's mail is in the catcher: open, click, reply or bounce as each recipient.")
        out("Press Ctrl-C to stop.")
        while not stop.wait(2.0):
            site.forum.sync_bounces()
            site.forum.announce_pending()
    out("demo stopped.")
    return 0
