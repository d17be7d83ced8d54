"""Splice bench (acceptance check 6): personalising a copy against building it afresh.

Two cases: a 5 KB HTML email with 10 links (text and HTML parts), and the same with a
100 KB attachment. For each, in the same run:

* postroom: ``Template.personalise`` (per-copy headers, 10 click URLs and a pixel in both
  bodies, encodings chosen per copy, chunks joined), the template built once beforehand;
* peer: the standard library building the same copy afresh, as a sender without a template
  would: the personalised text and HTML made by string replacement, an ``EmailMessage`` with
  the same headers, parts and attachment, serialised with ``policy.SMTP``.

It also times a DKIM signature of one copy (RSA 2048 and Ed25519, dkimpy), which is paid per
copy when an account signs, and the template's stored size. Prints rates and ratios; exits 1
when a ratio is under the 5x target.

    uv run python bench/compose.py [--seconds S]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from compose.peer import stdlib_copy
from postroom.compose import (
    Attachment,
    CopyValues,
    Email,
    Mailbox,
    Recipient,
    Template,
    build_template,
    pixel_html,
)
from postroom.compose.dkim import DkimKey, sign_copy

TARGET = 5.0
SENDER = Mailbox("news@example.org", "Example News")
DATE = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LINKS = [f"https://www.example.org/articles/{n}/a-story-worth-reading?ref=news" for n in range(10)]


def html_body() -> str:
    paragraph = (
        "<p>Postroom delivers one personalised copy per recipient. This paragraph is here to "
        "give the message the size of a real newsletter, with a little formatting.</p>\n"
    )
    items = "".join(
        f'<li><a href="{url}">Story number {n}</a> &mdash; a short teaser for it.</li>\n'
        for n, url in enumerate(LINKS)
    )
    body = f"<h1>This week</h1>\n<ul>\n{items}</ul>\n" + paragraph * 24
    return f"<!DOCTYPE html><html><body>\n{body}</body></html>\n"


def text_body() -> str:
    lines = [f"Story number {n}: {url}" for n, url in enumerate(LINKS)]
    prose = "Postroom delivers one personalised copy per recipient, with its own links.\n" * 20
    return "This week\n\n" + "\n".join(lines) + "\n\n" + prose


def make_email(attachment: bool) -> Email:
    return Email(
        account="news",
        to=[Recipient("ada@example.net", "Ada Lovelace")],
        cc=[Recipient("grace@example.com", "Grace Hopper")],
        subject="This week: ten stories worth reading",
        text=text_body(),
        html=html_body(),
        attachments=[
            Attachment("report.pdf", random.Random(1).randbytes(100 * 1024), "application/pdf")
        ]
        if attachment
        else [],
    )


def copy_values(number: int) -> CopyValues:
    return CopyValues(
        message_id=f"c{number}.e1@example.org",
        reply_to=f"reply+{number:08d}abcdefghijklmnop@reply.example.org",
        pixel_url=f"https://t.example.org/o/EQHAxAdFa5El4srmwoC14o{number}",
        click_urls=[f"https://t.example.org/c/EQLAxAcDWsYvd{number}x{n}" for n in range(10)],
    )


def peer_copy(template: Template, email: Email, number: int) -> bytes:
    values = copy_values(number)
    text = email.text or ""
    html = email.html or ""
    assert values.click_urls is not None
    for url, click in zip(template.links, values.click_urls, strict=True):
        text = text.replace(url, click)
        html = html.replace(f'"{url}"', f'"{click}"')
    assert values.pixel_url is not None
    html = html.replace("</body>", pixel_html(values.pixel_url) + "</body>")
    return stdlib_copy(
        template,
        sender=SENDER,
        subject=email.subject,
        date=DATE,
        message_id=values.message_id,
        text=text,
        html=html,
        attachments=email.attachments,
        copy_headers={"Reply-To": values.reply_to or ""},
    )


def rate(work: Callable[[int], object], seconds: float) -> float:
    """Copies per second over about ``seconds`` (at least 20 copies)."""
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while count < 20 or time.perf_counter() < deadline:
        work(count)
        count += 1
    return count / (time.perf_counter() - start)


def dkim_keys() -> list[tuple[str, DkimKey]]:
    keys = [
        ("RSA 2048", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("Ed25519", ed25519.Ed25519PrivateKey.generate()),
    ]
    return [
        (
            name,
            DkimKey(
                "example.org",
                "bench",
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            ),
        )
        for name, key in keys
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    missed = False
    samples: list[tuple[str, bytes]] = []
    for label, attachment in (("5 KB HTML, 10 links", False), ("+ 100 KB attachment", True)):
        email = make_email(attachment)
        template = build_template(email, sender=SENDER, date=DATE, email_token="e1")
        assert len(template.links) == len(LINKS)
        sample = template.personalise(copy_values(0))
        samples.append((f"{len(sample) // 1024} KB copy", sample))
        ours = rate(lambda n, t=template: t.personalise(copy_values(n)), args.seconds)
        theirs = rate(lambda n, t=template, e=email: peer_copy(t, e, n), args.seconds)
        ratio = ours / theirs
        missed |= ratio < TARGET
        print(
            f"{label}: copy of {len(sample):,} octets, template stored in "
            f"{len(template.to_bytes()):,} octets"
        )
        print(f"  {'postroom personalise':<34}{ours:>10,.0f} copies/s")
        print(f"  {'peer: stdlib EmailMessage, SMTP':<34}{theirs:>10,.0f} copies/s")
        print(f"  {'ratio':<34}{ratio:>10.1f}x  (target >= {TARGET:.0f}x)")
    for name, key in dkim_keys():
        for size, sample in samples:
            signs = rate(lambda n, k=key, s=sample: sign_copy(s, k), args.seconds / 2)
            print(f"DKIM sign_copy, {name}, {size:<16}{signs:>10,.0f} copies/s (dkimpy)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
