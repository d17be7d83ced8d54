"""Mail written to attack whoever looks at it: script tags, event handlers, javascript: URLs,
CR/LF smuggled into headers, bidi overrides, a 10,000-character subject. Each payload sets
``document.title`` to :data:`PWNED` if it ever runs, which the browser tests look for."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTPUTF8

PWNED = "pwned"
SCRIPT = f"<script>document.title='{PWNED}'</script>"
HANDLER = f"<img src=x onerror=\"document.title='{PWNED}'\">"
JS_URL = f"<a href=\"javascript:document.title='{PWNED}'\">click me</a>"
SVG = f"<svg onload=\"document.title='{PWNED}'\"></svg>"
RTL = "\u202egpj.exe"
LONG = "L" * 10_000
SUBJECT = f"{SCRIPT} {HANDLER} {RTL} {LONG}"
HTML_BODY = f'<p>Hi {SCRIPT}</p>{HANDLER}{JS_URL}{SVG}<iframe src="javascript:alert(1)"></iframe>'


def hostile_message(to: str, *, sender: str = "evil@example.org") -> bytes:
    """A reply to ``to`` with every payload in its headers and bodies. The Subject carries an
    encoded CR LF (RFC 2047 lets any octet through), as header injection attempts do."""
    message = EmailMessage()
    message["From"] = f'"{SCRIPT}{RTL}" <{sender}>'
    message["To"] = to
    message["Message-ID"] = f"<{RTL}hostile@example.org>"
    message.set_content(f"Text {SCRIPT} {JS_URL}\n\nOn Mon, Bob wrote:\n> quoted {HANDLER}\n")
    message.add_alternative(HTML_BODY, subtype="html")
    raw = message.as_bytes(policy=SMTPUTF8)
    crlf_subject = (
        b"Subject: =?utf-8?q?Re=3A_hi=0D=0ABcc=3A_victim=40example=2Eorg_?="
        + (b"=?utf-8?q?" + SCRIPT.encode().replace(b" ", b"_").replace(b"=", b"=3D")).replace(
            b"?", b"=3F"
        )
        + b"?= "
        + RTL.encode()
        + b" "
        + LONG.encode()
        + b"\r\n"
    )
    return crlf_subject + raw


def assert_inert(page: str) -> None:
    """Nothing of the payloads is markup on ``page``: every one was escaped."""
    assert "<script>document.title" not in page
    assert 'onerror="' not in page and 'onload="' not in page
    assert 'href="javascript:' not in page and 'src="javascript:' not in page
    assert "\u202e" not in page, "a bidi override reached the page unisolated"
    assert "\r" not in page, "a CR from mail reached the page"
