"""Properties of the reply reader: any split of a stream reads the same replies, and no input
makes it fail other than with ProtocolError."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from postroom.errors import ProtocolError
from postroom.outbound.types import Reply
from postroom.outbound.wire import ReplyReader

codes = st.integers(min_value=200, max_value=559).filter(lambda c: c % 100 // 10 <= 5)
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\r\n"),
    max_size=40,
)


@st.composite
def replies(draw: st.DrawFn) -> bytes:
    code = draw(codes)
    lines = draw(st.lists(texts, min_size=1, max_size=4))
    enhanced = draw(st.sampled_from(["", f"{code // 100}.1.1 ", f"{code // 100}.7.30 "]))
    out = b""
    for index, line in enumerate(lines):
        separator = " " if index == len(lines) - 1 else "-"
        out += f"{code}{separator}{enhanced}{line}\r\n".encode()
    return out


def read(chunks: list[bytes]) -> list[Reply]:
    reader = ReplyReader()
    found: list[Reply] = []
    for chunk in chunks:
        reader.feed(chunk)
        while (reply := reader.next_reply()) is not None:
            found.append(reply)
    return found


@given(st.lists(replies(), min_size=1, max_size=6), st.data())
def test_any_split_reads_the_same_replies(stream: list[bytes], data: st.DataObject) -> None:
    whole = b"".join(stream)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(whole)), max_size=12)))
    chunks = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
    assert read(chunks) == read([whole])
    assert len(read([whole])) == len(stream)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_replies_or_a_protocol_error(junk: bytes) -> None:
    try:
        for reply in read([junk]):
            assert 200 <= reply.code <= 559
    except ProtocolError:
        pass
