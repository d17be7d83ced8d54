"""Digest replies: compose side (markers, links) and which item a reply is meant for."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from postroom.compose.digest import DigestItem, item_mailto, render_digest
from postroom.compose.markers import format_item_marker, parse_item_marker
from postroom.understand.digest import DigestTarget, target_digest_item
from postroom.understand.replies import extract_html, extract_text

ITEMS = [
    DigestItem(1, "Welcome thread", "Say hello here.", "r+aaa1@example.com"),
    DigestItem(2, "Exam dates", "The exam is on Friday.\n\nBring a pen.", "r+bbb2@example.com"),
    DigestItem(3, "Reading list", "Chapters 1-3.", "r+ccc3@example.com"),
]
NUMBERS = [1, 2, 3]


def quoted(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines())


def test_text_part_carries_one_marker_per_item() -> None:
    parts = render_digest(ITEMS, subject="Forum digest", intro="Three new posts.")
    markers = [n for line in parts.text.splitlines() if (n := parse_item_marker(line))]
    assert markers == NUMBERS
    assert parts.text.startswith("Three new posts.")
    assert "r+bbb2@example.com" in parts.text


def test_html_part_links_each_item_with_a_prefilled_subject() -> None:
    parts = render_digest(ITEMS, subject="Forum digest")
    link = item_mailto(ITEMS[1])
    assert link.replace("&", "&amp;") in parts.html
    split = urlsplit(link)
    assert split.scheme == "mailto" and unquote(split.path) == "r+bbb2@example.com"
    assert parse_qs(split.query)["subject"] == ["Re: Exam dates [#2]"]


def test_item_numbers_must_be_unique() -> None:
    with pytest.raises(ValueError):
        render_digest([ITEMS[0], ITEMS[0]], subject="x")


def test_markers_survive_quoting() -> None:
    line = format_item_marker(12, "A  title\nwith breaks")
    assert parse_item_marker(line) == 12
    assert parse_item_marker("> > " + line) == 12
    assert parse_item_marker("=== [#x] nope ===") is None


def test_reply_to_the_item_address_wins() -> None:
    reply = extract_text("#3 but sent to item 1's address")
    target = target_digest_item(recipient_item=1, reply=reply, subject="", item_numbers=NUMBERS)
    assert target == DigestTarget(1, "address")


@pytest.mark.parametrize(
    "start", ["#2 I will bring two pens", ">>2 I will bring two pens", "# 2 yes"]
)
def test_reference_at_the_start(start: str) -> None:
    reply = extract_text(start + "\n\nOn Mon, 2 Mar 2020, Forum <f@example.com> wrote:\n> x")
    target = target_digest_item(
        recipient_item=None, reply=reply, subject="Re: digest", item_numbers=NUMBERS
    )
    assert target == DigestTarget(2, "reference")


def _inline_reply(under: int) -> str:
    digest = render_digest(ITEMS, subject="Forum digest", intro="Three new posts.").text
    lines = quoted(digest).splitlines()
    at = next(i for i, line in enumerate(lines) if parse_item_marker(line) == under)
    lines.insert(at + 2, "I have a question about this one.")
    return "On Mon, 2 Mar 2020 at 09:00, Forum <forum@example.com> wrote:\n" + "\n".join(lines)


@pytest.mark.parametrize("under", NUMBERS)
def test_reply_written_under_an_item_marker_inside_the_quote(under: int) -> None:
    reply = extract_text(_inline_reply(under))
    assert reply.text == "I have a question about this one."
    target = target_digest_item(
        recipient_item=None, reply=reply, subject="Re: Forum digest", item_numbers=NUMBERS
    )
    assert target == DigestTarget(under, "marker")


def test_reply_written_above_the_first_marker_inside_the_quote() -> None:
    digest = quoted(render_digest(ITEMS, subject="d", intro="Three new posts.").text)
    header = "On Mon, 2 Mar 2020 at 09:00, Forum <forum@example.com> wrote:\n"
    body = header + "> Three new posts.\n>\nHello!\n" + digest
    reply = extract_text(body)
    target = target_digest_item(recipient_item=None, reply=reply, subject="", item_numbers=NUMBERS)
    assert target == DigestTarget(1, "marker")


def test_subject_from_the_mailto_link() -> None:
    reply = extract_text("Sure.\n\nOn Mon, 2 Mar 2020, Forum <f@example.com> wrote:\n> digest")
    target = target_digest_item(
        recipient_item=None, reply=reply, subject="Re: Reading list [#3]", item_numbers=NUMBERS
    )
    assert target == DigestTarget(3, "subject")


@pytest.mark.parametrize(
    ("recipient", "body", "subject"),
    [
        (
            None,
            "Sure.\n\nOn Mon, 2 Mar 2020, Forum <f@example.com> wrote:\n> digest",
            "Re: Forum digest",
        ),
        (9, "#7 unknown item", "Re: x [#8]"),
        (None, "Top-posted.\n\n" + quoted(render_digest(ITEMS, subject="d").text), ""),
    ],
)
def test_cannot_tell(recipient: int | None, body: str, subject: str) -> None:
    reply = extract_text(body)
    assert (
        target_digest_item(
            recipient_item=recipient, reply=reply, subject=subject, item_numbers=NUMBERS
        )
        is None
    )


def test_html_reply_with_subject_tag() -> None:
    reply = extract_html('<div>Yes</div><div class="gmail_quote">digest</div>')
    target = target_digest_item(
        recipient_item=None, reply=reply, subject="RE: Exam dates [#2]", item_numbers=NUMBERS
    )
    assert target == DigestTarget(2, "subject")


def test_strip_reference_removes_only_a_leading_item_reference() -> None:
    from postroom.understand.digest import strip_reference

    assert strip_reference("#2 I can bring it.") == "I can bring it."
    assert strip_reference(">>3: Count me in") == "Count me in"
    assert strip_reference("I have #2 questions") == "I have #2 questions"
