"""Fuzzing the extractor: no exception escapes and no input takes a second."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postroom.understand.replies import (
    ExtractedReply,
    extract_bytes,
    extract_html,
    extract_text,
)

# Fragments that exercise every rule, mixed with arbitrary text.
FRAGMENTS = [
    "> ",
    ">>",
    "\n",
    "\r\n",
    "On Tue, 3 Mar 2020 at 10:01, ",
    "Ann <ann@example.com>",
    " wrote:",
    " a écrit :",
    "schrieb am",
    "-----Original Message-----",
    "---------- Forwarded message ---------",
    "From: ",
    "Sent: ",
    "To: ",
    "Subject: ",
    "-- ",
    "Sent from my iPhone",
    "Thanks,",
    "____",
    "2020-03-03 10:01 GMT+01:00",
    "Please type your reply above this line",
    "<div>",
    "</div>",
    '<blockquote type="cite">',
    "</blockquote>",
    '<div class="gmail_quote">',
    '<div id="appendonsend">',
    "<br>",
    "<p>",
    "&nbsp;",
    '<a href="https://example.com">',
    "</a>",
    "<style>",
    "<!--",
]
bodies = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=40)), max_size=60).map(
    "".join
)
FUZZ = settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])


def check(result: ExtractedReply) -> None:
    assert isinstance(result, ExtractedReply)
    assert isinstance(result.reply, str) and isinstance(result.quoted, str)
    if result.signature is not None:
        assert result.reply.endswith(result.signature)
    assert result.text in result.reply or not result.text
    assert set(result.to_json()) == {"reply", "signature", "quoted"}


@FUZZ
@given(bodies)
def test_extract_text_never_fails(body: str) -> None:
    check(extract_text(body))


@FUZZ
@given(bodies)
def test_extract_html_never_fails(body: str) -> None:
    result = extract_html(body)
    check(result)
    assert result.html is not None and "<script" not in result.html.lower()


@FUZZ
@given(
    st.binary(max_size=2000) | bodies.map(lambda s: ("Subject: x\nFrom: a@b.c\n\n" + s).encode())
)
def test_extract_bytes_never_fails(data: bytes) -> None:
    check(extract_bytes(data))


@FUZZ
@given(bodies)
def test_reply_lines_come_from_the_input(body: str) -> None:
    result = extract_text(body)
    source_lines = result.source.split("\n")
    known = set(source_lines)
    # A line may also be cut where an attribution opens mid-line ("thanks On Tue, ... wrote:").
    assert all(
        not line or line in known or any(s.startswith(line.rstrip()) for s in source_lines)
        for line in result.reply.split("\n")
    )
