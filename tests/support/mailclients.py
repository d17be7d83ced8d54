"""Real terminal mail clients (mutt, NeoMutt, alpine from Debian) writing replies, for tests.

A client is started in a private tmux session on a one-message mbox holding a notification
postroom could have sent; the test "types" the reply: for mutt and NeoMutt through the
``editor`` they run on the draft (a small script that puts the person's text where a person
would: above the quote, below it, or between its lines), for alpine straight into its own
composer (pico) with tmux send-keys, so pico wraps and flows the text itself. The client
then sends the reply over SMTP to the given port (the harness's real Postfix). Each run
takes about half a second; every wait is bounded, and the tmux session is ended by its own name.

What the client does itself, and what the tests therefore exercise: the attribution line
(from the configured template, dates in the configured locale), ``>`` quoting, format=flowed
and space-stuffing, the signature with its ``-- `` separator, charsets and MIME.
"""

from __future__ import annotations

import json
import mailbox
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from enum import Enum
from pathlib import Path

from postroom.compose.markers import REPLY_ABOVE_MARKER, REPLY_ABOVE_MARKER_HTML

__all__ = [
    "APT_PACKAGES",
    "LOCALES",
    "Client",
    "ClientError",
    "Placement",
    "ReplyPlan",
    "build_notification",
    "reply_with",
]

#: Debian packages the clients need (scripts/bootstrap installs them).
APT_PACKAGES = ("mutt", "neomutt", "alpine", "tmux", "locales")
#: Locales the tests run clients in (scripts/bootstrap generates them).
LOCALES = ("de_DE.UTF-8", "fr_FR.UTF-8", "pl_PL.UTF-8", "en_US.UTF-8")

_STEP_TIMEOUT = 15.0
# The screen is read again after 5 ms, then at doubling intervals up to 100 ms: a client
# that answers at once is seen at once, and a slow one is not read fifty times a second.
_FIRST_POLL = 0.005
_POLL = 0.1


class ClientError(RuntimeError):
    """A client did not reach the screen the test waited for."""


class Client(Enum):
    MUTT = "mutt"
    NEOMUTT = "neomutt"
    ALPINE = "alpine"


class Placement(Enum):
    """Where the person writes: above the quote, below it, or between its lines."""

    TOP = "top"
    BOTTOM = "bottom"
    INTERLEAVED = "interleaved"


@dataclass(frozen=True)
class ReplyPlan:
    """What the person types, and where.

    ``text`` is the reply (paragraphs separated by blank lines); for ``INTERLEAVED``,
    ``answers`` maps a phrase of a quoted line to the answer typed right under that line.
    """

    placement: Placement
    text: str = ""
    answers: tuple[tuple[str, str], ...] = ()


@dataclass
class ClientSettings:
    """Client configuration for one run (each maps onto the client's own options)."""

    lang: str = "C.UTF-8"
    attribution: str | None = None
    attribution_locale: str | None = None
    date_format: str | None = None
    flowed: bool = False
    signature: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def build_notification(
    reply_address: str,
    *,
    to: str,
    marker: bool = True,
    html: bool = False,
    lines: Sequence[str] = ("Bob posted in Meetup:", "Who can bring a projector?"),
) -> EmailMessage:
    """A topic notification as postroom sends one: Reply-To is the signed reply address, the
    "reply above this line" marker (optional) opens the text, an HTML alternative (optional)."""
    message = EmailMessage()
    message["From"] = "Forum <forum@example.org>"
    message["Reply-To"] = reply_address
    message["To"] = to
    message["Subject"] = "New post in Meetup"
    message["Date"] = "Mon, 16 Nov 2026 09:00:00 +0000"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.org>"
    body = "\n".join([*([REPLY_ABOVE_MARKER, ""] if marker else []), *lines]) + "\n"
    message.set_content(body)
    if html:
        paragraphs = "".join(f"<p>{line}</p>" for line in lines)
        message.add_alternative(
            f"<html><body>{REPLY_ABOVE_MARKER_HTML if marker else ''}{paragraphs}</body></html>",
            subtype="html",
        )
    return message


def _write_mbox(path: Path, message: EmailMessage) -> None:
    box = mailbox.mbox(str(path), create=True)
    try:
        box.add(mailbox.mboxMessage(message.as_bytes(policy=SMTP)))
        box.flush()
    finally:
        box.close()


# The editor mutt and NeoMutt run on the draft: the person's hand, as a script.
_EDITOR = r"""
import json, os, sys, textwrap, time
path = sys.argv[-1]
# What it did, for the failure message when a client says the draft was left unchanged.
log = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "editor.log"), "a")
log.write(f"{time.time():.3f} editing {path} (mtime {os.stat(path).st_mtime:.3f})\n")
log.flush()
sys.stderr = log
plan = json.load(open(os.environ["POSTROOM_TEST_PLAN"], encoding="utf-8"))
with open(path, encoding="utf-8") as handle:
    draft = handle.read()

def typed(text):
    # An editor set up for format=flowed (vim "fo+=w") ends each wrapped line with a space.
    if not plan["flowed"]:
        return text
    out = []
    for paragraph in text.split("\n"):
        wrapped = textwrap.wrap(paragraph, 66) or [""]
        out.append(" \n".join(wrapped))
    return "\n".join(out)

lines = draft.split("\n")
sig_at = next((i for i, l in enumerate(lines) if l == "-- "), len(lines))
body, sig = lines[:sig_at], lines[sig_at:]
if plan["placement"] == "top":
    body = typed(plan["text"]).split("\n") + [""] + body
elif plan["placement"] == "bottom":
    while body and not body[-1].strip():
        body.pop()
    body = body + [""] + typed(plan["text"]).split("\n") + [""]
else:
    for needle, answer in plan["answers"]:
        at = next(i for i, l in enumerate(body) if l.startswith(">") and needle in l)
        body[at + 1 : at + 1] = ["", *typed(answer).split("\n"), ""]
with open(path, "w", encoding="utf-8") as handle:
    handle.write("\n".join(body + sig))
log.write(f"{time.time():.3f} wrote {path} (mtime {os.stat(path).st_mtime:.3f})\n")
"""


class _Tmux:
    """One private tmux session, ended by its own name."""

    def __init__(self, command: str, env: Mapping[str, str], cwd: Path) -> None:
        if shutil.which("tmux") is None:
            raise ClientError("tmux is not installed: run scripts/bootstrap --services")
        self.name = f"postroom-test-{uuid.uuid4().hex[:10]}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        subprocess.run(
            [
                "tmux", "new-session", "-d", "-s", self.name, "-x", "132", "-y", "50",
                "-c", str(cwd), f"env {exports} {command}; sleep 30",
            ],
            check=True,
        )  # fmt: skip

    def screen(self) -> str:
        result = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout

    def wait_for(self, *texts: str, timeout: float = _STEP_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        pause = _FIRST_POLL
        while True:
            screen = self.screen()
            for text in texts:
                if text in screen:
                    return text
            if time.monotonic() > deadline:
                raise ClientError(f"waited {timeout:.0f} s for {texts!r}; the screen:\n{screen}")
            time.sleep(pause)
            pause = min(pause * 2, _POLL)

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def type(self, text: str) -> None:
        for number, line in enumerate(text.split("\n")):
            if number:
                self.keys("Enter")
            if line:
                subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", line], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True, check=False)


def _mutt_config(
    work: Path, client: Client, smtp_port: int, settings: ClientSettings, sender: str
) -> Path:
    options: dict[str, str] = {
        "mbox_type": "mbox",
        "spoolfile": str(work / "inbox"),
        "folder": str(work),
        "from": sender,
        "realname": "Ada Lovelace",
        "smtp_url": f"smtp://127.0.0.1:{smtp_port}/",
        "ssl_starttls": "no",
        "ssl_force_tls": "no",
        "editor": f"{sys.executable} {work / 'editor.py'}",
        "include": "yes",
        "fast_reply": "yes",
        "reply_to": "yes",
        "record": "",
        "copy": "no",
        "move": "no",
        "mark_old": "no",
        "quit": "yes",
        "postpone": "no",
        "wait_key": "no",
        # No pause after a notice such as "Mail sent." (a second by default): the next
        # screen is what the test waits for.
        "sleep_time": "0",
        "charset": "utf-8",
        "send_charset": "utf-8",
        "text_flowed": "yes" if settings.flowed else "no",
        "sig_dashes": "yes",
        "signature": str(work / "signature") if settings.signature else "",
    }
    if settings.attribution is not None:
        options["attribution"] = settings.attribution
    if settings.attribution_locale is not None:
        options["attribution_locale"] = settings.attribution_locale
    if settings.date_format is not None:
        options["date_format"] = settings.date_format
    options.update(settings.extra)
    if settings.signature:
        (work / "signature").write_text(settings.signature + "\n", encoding="utf-8")
    rc = work / f"{client.value}rc"
    rc.write_text(
        "".join(
            f"set {key}={json.dumps(value, ensure_ascii=False)}\n" for key, value in options.items()
        ),
        encoding="utf-8",
    )
    (work / "editor.py").write_text(_EDITOR, encoding="utf-8")
    return rc


def _reply_with_mutt(
    work: Path, client: Client, smtp_port: int, plan: ReplyPlan, settings: ClientSettings,
    sender: str,
) -> None:  # fmt: skip
    rc = _mutt_config(work, client, smtp_port, settings, sender)
    plan_file = work / "plan.json"
    plan_file.write_text(
        json.dumps(
            {
                "placement": plan.placement.value,
                "text": plan.text,
                "answers": plan.answers,
                "flowed": settings.flowed,
            }
        ),
        encoding="utf-8",
    )
    env = {"LANG": settings.lang, "LC_ALL": settings.lang, "HOME": str(work),
           "POSTROOM_TEST_PLAN": str(plan_file), "TERM": "xterm"}  # fmt: skip
    session = _Tmux(f"{client.value} -n -F {shlex.quote(str(rc))}", env, work)
    try:
        session.wait_for("New post in Meetup")
        session.keys("r")
        # The compose menu's key help ("y:Send", "y:Absenden", ...) is translated; its keys are not.
        try:
            session.wait_for("y:")
        except ClientError as exc:
            log = work / "editor.log"
            seen = log.read_text(encoding="utf-8") if log.exists() else "(the editor never ran)"
            raise ClientError(f"{exc}\nthe editor's log:\n{seen}") from None
        session.keys("y")
        # Back at the index once the message is handed to the SMTP server (the "Mail sent."
        # notice may be gone by the time the screen is read).
        session.wait_for("r:")
        session.keys("q")
    finally:
        session.close()


def _reply_with_alpine(
    work: Path, smtp_port: int, plan: ReplyPlan, settings: ClientSettings, sender: str
) -> None:
    local, domain = sender.split("@", 1)
    options = {
        "personal-name": "Ada Lovelace",
        "user-id": local,
        "user-domain": domain,
        "inbox-path": str(work / "inbox"),
        "smtp-server": f"127.0.0.1:{smtp_port}/notls/user=",
        "feature-list": "include-text-in-reply,quit-without-confirm,"
        "quell-user-lookup-in-passwd-file,no-warn-about-missing-smtp"
        + ("" if settings.flowed else ",quell-flowed-text"),
        # Two double quotes is alpine's "none": no copy to a sent-mail folder.
        "postponed-folder": '""',
        "default-fcc": '""',
        "last-version-used": "2.26",
        "ldap-servers": "",
    }
    if settings.attribution is not None:
        options["reply-leadin"] = settings.attribution
    if settings.signature:
        options["literal-signature"] = settings.signature.replace("\n", "\\n")
    options.update(settings.extra)
    pinerc = work / "pinerc"
    pinerc.write_text("".join(f"{k}={v}\n" for k, v in options.items()), encoding="utf-8")
    (work / "mail").mkdir(exist_ok=True)
    env = {"LANG": settings.lang, "LC_ALL": settings.lang, "HOME": str(work), "TERM": "xterm"}
    session = _Tmux(f"alpine -p {shlex.quote(str(pinerc))} -i", env, work)
    try:
        if session.wait_for("New post in Meetup", 'press "E"') != "New post in Meetup":
            # The greeting alpine shows once per configuration file.
            session.keys("E")
            session.wait_for("New post in Meetup")
        session.keys("r")
        session.wait_for('Use "Reply-To:"')
        session.keys("y")
        if session.wait_for("Reply to all", "Message Text") == "Reply to all":
            session.keys("n")
        session.wait_for("Message Text")
        time.sleep(0.3)
        if plan.placement is Placement.TOP:
            session.type(plan.text + "\n\n")
        elif plan.placement is Placement.BOTTOM:
            # pico: ^W ^V goes to the end of the text.
            session.keys("C-w")
            session.keys("C-v")
            session.type("\n" + plan.text + "\n")
        else:
            for needle, answer in plan.answers:
                session.keys("C-w")
                session.type(needle)
                session.keys("Enter")
                session.keys("C-e")
                session.type("\n\n" + answer + "\n")
        session.keys("C-x")
        session.wait_for("Send message?")
        session.keys("y")
        session.wait_for("MESSAGE INDEX", "Message sent")
        session.keys("q")
    finally:
        session.close()


def reply_with(
    client: Client,
    work: Path,
    notification: EmailMessage,
    plan: ReplyPlan,
    *,
    smtp_port: int,
    settings: ClientSettings | None = None,
    sender: str = "ada@example.test",
) -> None:
    """Have ``client`` reply to ``notification`` as ``plan`` says, sending over SMTP to
    127.0.0.1:``smtp_port``. ``work`` is an empty directory of the run's own."""
    settings = settings or ClientSettings()
    binary = client.value
    if shutil.which(binary) is None:
        raise ClientError(f"{binary} is not installed: run scripts/bootstrap --services")
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o700)
    _write_mbox(work / "inbox", notification)
    if client is Client.ALPINE:
        _reply_with_alpine(work, smtp_port, plan, settings, sender)
    else:
        _reply_with_mutt(work, client, smtp_port, plan, settings, sender)
