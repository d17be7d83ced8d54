"""Acting as a recipient of a caught copy: open it (fetch its pixel as a mail client does),
click one of its links (fetch the tracked URL, without following where it redirects), reply
(quoted as Gmail quotes, handed to the inbound pipeline) or bounce it (a DSN handed to the
inbound pipeline). Each action is recorded on the caught message with what came of it.

The pixel and link URLs are only fetched when they start with ``tracking.base_url``: the
catcher talks to ``postroom serve`` and to nothing else on the network.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from postroom.catcher.mail import (
    HARD,
    SOFT,
    TrackedUrls,
    delivery_status_notification,
    gmail_reply,
    parse,
    tracked_urls,
)
from postroom.errors import CatcherError, PostroomError
from postroom.store import catcher as store

if TYPE_CHECKING:
    from postroom.app import Postroom
    from postroom.store.catcher import CaughtMessage

#: What a person's mail client sends when it shows the images of a message.
PERSON_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"
#: Apple Mail Privacy Protection fetches every image ahead of the reader with a bare agent,
#: through Apple's relays, whose addresses are Apple's 17.0.0.0/8 (tracking/machines.toml).
APPLE_PREFETCH_AGENT = "Mozilla/5.0"
APPLE_RELAY_ADDRESS = "17.58.63.1"
#: Each client: its User-Agent, and the address it reaches postroom from (sent as
#: X-Forwarded-For, which postroom believes only with ``tracking.forwarded_for = true``, as
#: behind a reverse proxy; ``postroom demo`` sets it, its catcher standing in for the relay).
CLIENTS: dict[str, tuple[str, str | None]] = {
    "person": (PERSON_AGENT, None),
    "apple_prefetch": (APPLE_PREFETCH_AGENT, APPLE_RELAY_ADDRESS),
}
FETCH_TIMEOUT = 5.0
REPORTING_MTA = "catcher.localhost"


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What happened when the catcher acted: ``summary`` is shown to the operator."""

    action: str
    summary: str
    details: dict[str, Any]

    def record(self, at: datetime) -> dict[str, Any]:
        return {
            "action": self.action,
            "at": at.isoformat(),
            "summary": self.summary,
            **self.details,
        }


def caught(room: Postroom, caught_id: int) -> CaughtMessage:
    with room.database.transaction() as tx:
        message = store.get_caught(tx, caught_id)
    if message is None or message.raw is None:
        raise CatcherError(f"the catcher holds no message #{caught_id}")
    return message


def urls_of(room: Postroom, message: CaughtMessage) -> TrackedUrls:
    assert message.raw is not None
    return tracked_urls(parse(message.raw), room.settings.tracking.base_url)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def fetch(
    url: str, agent: str, base_url: str, *, forwarded_for: str | None = None
) -> tuple[int, str | None]:
    """GET ``url`` (which must start with ``base_url``) as ``agent`` (from ``forwarded_for``
    when given): its status and the Location it redirects to. CatcherError when it cannot be
    reached or answers an error."""
    if not url.startswith(base_url.rstrip("/") + "/"):
        raise CatcherError(f"{url} is not a tracking URL of this postroom ({base_url})")
    headers = {"User-Agent": agent, "Accept": "*/*"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    request = urllib.request.Request(url, headers=headers)
    try:
        with _OPENER.open(request, timeout=FETCH_TIMEOUT) as answer:
            return int(answer.status), answer.headers.get("Location")
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            return exc.code, exc.headers.get("Location")
        raise CatcherError(
            f"{url} answered {exc.code} {exc.reason}: the tracking endpoint refused the request"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CatcherError(
            f"could not fetch {url}: {reason}. Is `postroom serve` running and reachable at "
            f"tracking.base_url ({base_url})?"
        ) from None


def _recorded(room: Postroom, caught_id: int, result: ActionResult) -> ActionResult:
    with room.database.transaction() as tx:
        store.add_action(tx, caught_id, result.record(room.clock()))
    return result


def _failed(room: Postroom, caught_id: int, action: str, error: PostroomError) -> None:
    _recorded(room, caught_id, ActionResult(action, f"failed: {error}", {"ok": False}))


def open_message(room: Postroom, caught_id: int, *, client: str = "person") -> ActionResult:
    """Fetch the copy's open pixel as ``client`` (``person`` or ``apple_prefetch``)."""
    if client not in CLIENTS:
        raise CatcherError(f"client {client!r}: choose one of {', '.join(CLIENTS)}")
    message = caught(room, caught_id)
    pixel = urls_of(room, message).pixel
    if pixel is None:
        raise CatcherError(
            f"message #{caught_id} has no open pixel (a text-only copy, or tracking is off)"
        )
    try:
        agent, address = CLIENTS[client]
        status, _ = fetch(pixel, agent, room.settings.tracking.base_url, forwarded_for=address)
    except CatcherError as exc:
        _failed(room, caught_id, "open", exc)
        raise
    summary = f"opened as {client.replace('_', ' ')}: the pixel answered {status}"
    return _recorded(room, caught_id, ActionResult("open", summary, {"ok": True, "client": client}))


def click_link(room: Postroom, caught_id: int, number: int) -> ActionResult:
    """Follow the copy's tracked link ``number`` (0-based, in the order of the body)."""
    message = caught(room, caught_id)
    links = urls_of(room, message).links
    if not 0 <= number < len(links):
        raise CatcherError(f"message #{caught_id} has {len(links)} tracked links, no #{number}")
    try:
        status, location = fetch(links[number], PERSON_AGENT, room.settings.tracking.base_url)
    except CatcherError as exc:
        _failed(room, caught_id, "click", exc)
        raise
    where = f", leading to {location}" if location else ""
    summary = f"clicked link {number + 1}: the tracked URL answered {status}{where}"
    details = {"ok": True, "link": number, "location": location}
    return _recorded(room, caught_id, ActionResult("click", summary, details))


def reply_message(room: Postroom, caught_id: int, text: str) -> ActionResult:
    """Reply to the copy as its recipient, quoted as Gmail quotes, through the inbound
    pipeline (``room.receive``) to the copy's Reply-To (its reply address)."""
    if not text.strip():
        raise CatcherError("write something to reply with")
    message = caught(room, caught_id)
    assert message.raw is not None
    original = parse(message.raw)
    domain = message.recipient.rpartition("@")[2] or "catcher.localhost"
    try:
        reply: EmailMessage = gmail_reply(
            original, sender=message.recipient, text=text, now=room.clock(), domain=domain
        )
    except ValueError as exc:
        raise CatcherError(f"cannot reply to message #{caught_id}: {exc}") from None
    target = str(reply["To"])
    result = room.receive(reply.as_bytes(), recipients=(target,), sender=message.recipient)
    summary = f"replied to {target}: {result.outcome}" + (
        f" ({result.detail})" if result.detail else ""
    )
    details = {"ok": True, "outcome": str(result.outcome), "inbound_id": result.inbound_id}
    return _recorded(room, caught_id, ActionResult("reply", summary, details))


def bounce_message(room: Postroom, caught_id: int, *, hard: bool = True) -> ActionResult:
    """Bounce the copy: a DSN (RFC 3464) from the catcher to its envelope sender, through the
    inbound pipeline, as if the recipient's server had refused it (hard: no such mailbox;
    soft: mailbox full)."""
    message = caught(room, caught_id)
    assert message.raw is not None
    if not message.mail_from:
        raise CatcherError(
            f"message #{caught_id} came with a null return path: nobody to bounce to"
        )
    dsn = delivery_status_notification(
        message.raw,
        recipient=message.recipient,
        return_path=message.mail_from,
        kind=HARD if hard else SOFT,
        arrived=message.received_at,
        now=room.clock(),
        reporting_mta=REPORTING_MTA,
    )
    result = room.receive(dsn, recipients=(message.mail_from,), sender="")
    kind = "hard" if hard else "soft"
    summary = f"bounced ({kind}) to {message.mail_from}: {result.outcome}" + (
        f" ({result.detail})" if result.detail else ""
    )
    details = {"ok": True, "outcome": str(result.outcome), "inbound_id": result.inbound_id}
    return _recorded(room, caught_id, ActionResult("bounce", summary, details))
