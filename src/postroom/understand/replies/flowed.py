"""Decoding ``text/plain; format=flowed`` (RFC 3676), before anything else reads the text.

A flowed body breaks a paragraph into lines that end with a space (a *soft* line break,
section 4.2); a line without one ends the paragraph. Decoding, per section 4.1 to 4.5:

* quote depth is the number of ``>`` characters that start a line (section 4.5): lines of
  one paragraph share it, and a flowed line followed by a line of another depth is taken as
  fixed (section 4.5, "improperly flowed");
* one space right after the quote indicators (or at the start of an unquoted line) is
  space-stuffing (section 4.4) and goes;
* the signature separator ``-- `` is never flowed (section 4.3), even though it ends in a space;
* with ``DelSp=yes`` the space that marks a soft break is deleted when the lines are joined
  (section 4.2), which is how text in languages written without spaces is flowed.

The decoded text has one line per paragraph, quoted paragraphs written back as ``>`` (one per
level) and a space, so the quote rules of :mod:`.text` read them as any other quote.
No maintained library implements this (the one on PyPI was last released for Python 2), and
the decoder is a few dozen lines of one linear pass.
"""

from __future__ import annotations

from email.message import Message

# Quote indicators are counted on at most this many characters: deeper quoting is noise.
_MAX_DEPTH = 100


def is_flowed(part: Message) -> bool:
    """True when the part declares ``format=flowed`` (RFC 3676 section 4.1)."""
    value = part.get_param("format", header="content-type")
    return isinstance(value, str) and value.strip().lower() == "flowed"


def deletes_space(part: Message) -> bool:
    """True when the part declares ``DelSp=yes`` (RFC 3676 section 4.2)."""
    value = part.get_param("delsp", header="content-type")
    return isinstance(value, str) and value.strip().lower() == "yes"


def _split_quote(line: str) -> tuple[int, str]:
    depth = 0
    limit = min(len(line), _MAX_DEPTH)
    while depth < limit and line[depth] == ">":
        depth += 1
    content = line[depth:]
    if content.startswith(" "):
        # Space-stuffing (section 4.4): one space after the quote marks, or before a line
        # that starts with a space, ">" or "From ", was added by the sender.
        content = content[1:]
    return depth, content


def _emit(out: list[str], depth: int, text: str) -> None:
    if depth == 0:
        out.append(text)
    else:
        out.append(">" * depth + (" " + text if text else ""))


def decode_flowed(text: str, *, delsp: bool = False) -> str:
    """The text of a format=flowed body with its paragraphs joined (RFC 3676 section 4)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    pending: list[str] = []
    pending_depth = 0
    for raw in lines:
        depth, content = _split_quote(raw)
        if pending and depth != pending_depth:
            # Section 4.5: a flowed line followed by a line of another quote depth is fixed.
            _emit(out, pending_depth, "".join(pending))
            pending = []
        soft = content.endswith(" ") and content != "-- "
        if soft:
            pending.append(content[:-1] if delsp else content)
            pending_depth = depth
            continue
        if pending:
            _emit(out, depth, "".join(pending) + content)
            pending = []
        else:
            _emit(out, depth, content)
    if pending:
        _emit(out, pending_depth, "".join(pending))
    return "\n".join(out)
