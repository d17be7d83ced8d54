"""Plain-text quote detection: which lines of a body did the person write?

The body is scanned line by line, once, for the first *quote header*: our own "reply above
this line" marker, an attribution ("On <date>, <who> wrote:", wrapped over up to six lines,
in many languages), a separator ("-----Original Message-----", "Forwarded message"), or a
block of copied header fields ("From:/Sent:/To:/Subject:"). Everything from there on is
quoted. Above it, trailing ``>`` quotes, blank lines and rule lines are dropped, and the
signature is found (see :mod:`.signature`).

Policies (documented in docs/replies.md):

* Top-posting: the person's text is everything above the first quote header.
* Bottom-posting: when nothing but blank lines precedes the header and the header is followed
  by ``>`` lines, the person's text is what follows that quote block.
* Interleaved replies: ``>`` quotes *between* the person's paragraphs are kept as context;
  quotes after the person's last paragraph are dropped. When a bottom-posted reply turns out
  to be interleaved, the first quote block is kept as context too (the attribution is not).
* A ``>`` line's lost continuation (a client re-wrapped a long quoted line and the
  wrapped part lost its ``>``) is recognised when it sits between quoted lines and the quoted
  line above it is long.
* When the first thing in the body is a quote header (a bare forward, a bare quote), the person
  wrote nothing and the reply is empty; otherwise, when stripping would leave nothing, the
  whole body is returned as the reply.

Every regular expression runs on a length-capped string, so a pathological body costs time
linear in its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from postroom.compose.markers import has_reply_above_marker, is_reply_above_marker
from postroom.understand.replies import headers_i18n as h
from postroom.understand.replies.attribution import (
    Strength,
    TemplateMatch,
    match_attribution,
    may_open_template,
)
from postroom.understand.replies.charclass import has_digit
from postroom.understand.replies.footers import footer_start
from postroom.understand.replies.signature import find_signature
from postroom.understand.replies.types import ExtractedReply

# Lines longer than this are never quote headers; the cap keeps every regex linear.
MAX_HEADER_LINE = 600
# How many lines an attribution may be wrapped over, and how many blank lines it may contain.
MAX_ATTRIBUTION_LINES = 6
_MAX_ATTRIBUTION_BLANKS = 2
# Quote headers are looked for in this many lines from the top: nobody writes more above a
# quote, and the bound keeps hostile bodies cheap.
MAX_SCAN_LINES = 5000
# At most this many lines are examined as possible ends of an attribution, per body.
_MAX_ATTRIBUTION_CANDIDATES = 2000
# A quoted line this long was probably wrapped by the client (see the lost-">" rule).
_WRAPPED_QUOTE_LENGTH = 50
# A block under a quote this small is a sign-off or footer (see _tail_under_quote).
_MAX_TAIL_LINES = 12
_MAX_TAIL_CHARS = 900
_JUNK_CHARS = frozenset("-_=*~#+.·•|/\\<>ᐧ \t")


@dataclass(frozen=True, slots=True)
class Header:
    """A quote header found at ``lines[start : end + 1]``."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Split:
    """The outcome of splitting lines: which to keep as the reply, where the signature starts."""

    keep: tuple[int, ...]
    signature: int | None
    nothing_written: bool


def normalise(body: str) -> str:
    """Unify line ends and drop a byte-order mark."""
    if body.startswith("\ufeff"):
        body = body[1:]
    return body.replace("\r\n", "\n").replace("\r", "\n")


def is_quoted(line: str) -> bool:
    """True for a ``>``-quoted line; ">>2" (a reference to digest item 2) is not a quote."""
    first = line[:1]
    if first != ">":
        if first != " " and first != "\t":
            # Most lines are settled by their first character, without a stripped copy.
            return False
        line = line.lstrip(" \t")
        if line[:1] != ">":
            return False
    return not (line[1:2] == ">" and line[2:3].isdigit())


def _is_junk(stripped: str) -> bool:
    if stripped and stripped[0] not in _JUNK_CHARS:
        # The first character settles most lines before a set is built of all of them.
        return False
    return len(stripped) <= 200 and set(stripped) <= _JUNK_CHARS


def _is_lost_quote(lines: Sequence[str], i: int, lo: int, hi: int) -> bool:
    """An unquoted line between quoted ones, under a long quoted line: a lost ``>``."""
    if i - 1 < lo or i + 1 >= hi:
        return False
    above, below, line = lines[i - 1], lines[i + 1], lines[i].strip()
    if not (is_quoted(above) and is_quoted(below)) or not line or len(line) > MAX_HEADER_LINE:
        return False
    # Wrapped text continues a long line, or is a URL fragment cut mid-way.
    return (
        len(above.strip()) >= _WRAPPED_QUOTE_LENGTH or not line[0].isalnum() or line.endswith(">")
    )


def _may_end_attribution(stripped: str) -> bool:
    if stripped.endswith((":", "：")):
        return True
    tail = stripped[-60:].rstrip("-. ")
    if tail.endswith(h.CJK_VERB_ENDINGS):
        return True
    words = tail.rsplit(None, 1)
    return bool(words) and words[-1].lower() in h.VERB_TAILS


def _qualifies(text: str, single: bool) -> bool:
    """Does this joined window read as an attribution line?"""
    has_date = h.DATE_RE.search(text) is not None
    has_addr = "@" in text and h.has_address(text)
    if h.ends_with_verb(text[-80:]):
        if has_date:
            return True
        # Undated attributions ("X via Forum <x@example.com> schrieb:") only on one line.
        return single and (has_addr or text.lower().startswith(("on ", "you ")))
    if not text.endswith((":", "：")) or not has_date:
        return False
    if (has_addr or h.OPENER_RE.match(text)) and h.VERB_ANY_RE.search(text):
        return True
    return h.ADDR_COLON_END_RE.search(text[-420:]) is not None


def _followed_by_quote(lines: Sequence[str], end: int) -> bool:
    """Is the next non-blank line after ``end`` a ``>`` quote?"""
    for j in range(end + 1, min(len(lines), end + 2 + _MAX_ATTRIBUTION_BLANKS)):
        if lines[j].strip():
            return is_quoted(lines[j])
    return False


def _template_qualifies(text: str, quote_follows: bool) -> TemplateMatch | None:
    if not quote_follows and "@" not in text and not has_digit(text):
        # Only a weak match could come of it (no date, no address), and none is wanted here.
        return None
    found = match_attribution(text)
    if found is None or (found.strength is Strength.WEAK and not quote_follows):
        return None
    return found


def _opens_like_attribution(line: str) -> bool:
    return h.OPENER_RE.match(line) is not None or h.DATE_START_RE.match(line) is not None


def _attribution_start(lines: Sequence[str], lo: int, end: int) -> int | None:
    """First line of the attribution that ends at ``end``, or None.

    The shortest window that reads as an attribution wins, so a header right under the
    person's text does not swallow it; a window that starts inside a wrapped line (with the
    address, "<ann@example.com> wrote:") is extended to the line that opens it.
    """
    quote_follows = _followed_by_quote(lines, end)
    blanks = 0
    found: int | None = None
    for s in range(end, max(lo, end - MAX_ATTRIBUTION_LINES + 1) - 1, -1):
        line = lines[s]
        if not line.strip():
            blanks += 1
            if blanks > _MAX_ATTRIBUTION_BLANKS:
                break
            continue
        if (s < end and is_quoted(line)) or len(line) > MAX_HEADER_LINE:
            break
        if s < end and line.rstrip().endswith((":", "：")):
            # A line that ends like an attribution closes whatever was above it; a wrapped
            # attribution does not run over one (and hostile bodies stay linear).
            break
        text = " ".join(part.strip() for part in lines[s : end + 1] if part.strip())
        if found is not None:
            # Only a window that opens like an attribution may extend a match upwards.
            if may_open_template(text):
                template = _template_qualifies(text, quote_follows)
                if template is not None and template.opens_with_text:
                    return s
            if _opens_like_attribution(line) and _qualifies(text, single=False):
                return s
            continue
        # A wrapped window counts only when it opens like an attribution or with a template's
        # own words; a window that does neither is not tried against the templates.
        template = (
            _template_qualifies(text, quote_follows)
            if s == end or _opens_like_attribution(line) or may_open_template(text)
            else None
        )
        if template is not None and (
            s == end or template.opens_with_text or _opens_like_attribution(line)
        ):
            if template.opens_with_text or _opens_like_attribution(line) or s == lo:
                return s
            found = s
            continue
        if _legacy_start(lines, lo, s, end, text):
            return s
    return found


def _legacy_start(lines: Sequence[str], lo: int, s: int, end: int, text: str) -> bool:
    """The shape rule (a writer verb and a date) for lines no template describes."""
    line = lines[s]
    above_blank = s == lo or not lines[s - 1].strip() or is_quoted(lines[s - 1])
    if not (
        above_blank
        or _opens_like_attribution(line)
        or ("On" in line and h.MIDLINE_ON_RE.match(line))
    ):
        return False
    if s < end and not _opens_like_attribution(line) and "@" not in text:
        # A wrapped attribution that does not open like one must at least name an address.
        return False
    return _qualifies(text, single=s == end)


def _field_block_end(lines: Sequence[str], i: int, hi: int) -> tuple[int | None, int]:
    """End of a block of copied header fields starting at ``i`` (From:/Sent:/To:...).

    Also returns the first line not examined.
    """
    names: set[str] = set()
    has_from = False
    gap = 0
    last = i
    j = i
    for j in range(i, min(hi, i + 14)):
        line = lines[j]
        stripped = line.strip()
        match = (
            h.FIELD_RE.match(line)
            # A field has its colon; most lines under a header line (quoted text) do not.
            if stripped and len(line) < MAX_HEADER_LINE and (":" in line or "：" in line)
            else None
        )
        if match is not None:
            name = " ".join(match.group("name").lower().split())
            names.add(name)
            has_from = has_from or h.FROM_FIELD_RE.match(name) is not None
            gap = 0
            last = j
        else:
            gap += 1
            if gap > 2:
                break
    if len(names) >= 2 and (has_from or len(names) >= 3):
        return last, j
    if has_from and len(names) == 1 and h.INLINE_FIELD_RE.search(lines[i][:MAX_HEADER_LINE]):
        return i, i + 1
    return None, max(j, i + 1) if len(names) == 1 else i + 1


def find_header(lines: list[str], lo: int, hi: int) -> tuple[Header | None, int]:
    """The first quote header in ``lines[lo:hi]``, and how many lines were inserted.

    A header that shares its first line with the person's text ("thanks On <date> ... wrote:")
    is split off into a line of its own, which inserts one line into ``lines``.
    """
    # Lines already examined as part of a failed field block are not examined again, which
    # keeps a body of ten thousand "From:" lines linear.
    fields_checked_to = lo
    budget = _MAX_ATTRIBUTION_CANDIDATES
    for i in range(lo, min(hi, lo + MAX_SCAN_LINES)):
        line = lines[i]
        stripped = line.strip()
        if not stripped or len(line) > MAX_HEADER_LINE:
            continue
        last = stripped[-1]
        colon = last == ":" or last == "："
        if not is_quoted(line):
            # A separator ends in a dash, "*" or "_", a dash-wrapped attribution in "--"
            # (``stripped`` has no trailing white space for their patterns to allow).
            if (
                (
                    last in "-*_"
                    and "-" in stripped[:12]
                    and (h.SEPARATOR_RE.match(stripped) or h.is_dashed_attribution(stripped))
                )
                or (colon and h.FORWARD_LINE_RE.match(stripped))
                or (stripped[0].isdigit() and h.GMAIL_ISO_RE.match(line))
            ):
                return Header(i, i), 0
            if i >= fields_checked_to:
                head = stripped[:40]
                if ":" in head or "：" in head:
                    end, fields_checked_to = _field_block_end(lines, i, hi)
                    if end is not None:
                        return Header(i, end), 0
        if budget > 0 and (colon or _may_end_attribution(stripped)):
            # Bounded work: a body with thousands of candidate lines is not a normal reply.
            budget -= 1
            start = _attribution_start(lines, lo, i)
            if start is not None:
                return _split_shared_line(lines, start, i)
    return None, 0


def _split_shared_line(lines: list[str], start: int, end: int) -> tuple[Header, int]:
    first = lines[start]
    if h.OPENER_RE.match(first) or h.DATE_START_RE.match(first):
        return Header(start, end), 0
    match = h.MIDLINE_ON_RE.match(first) if "On" in first else None
    if match is None:
        return Header(start, end), 0
    rest = " ".join([match.group("on"), *(part.strip() for part in lines[start + 1 : end + 1])])
    if not _qualifies(rest.strip(), single=start == end):
        return Header(start, end), 0
    lines[start] = match.group("pre").rstrip(" -")
    lines.insert(start + 1, match.group("on"))
    return Header(start + 1, end + 1), 1


def sender_names(sender: str | None) -> tuple[str, ...]:
    """The names a sender signs with: the display name, and its first word."""
    if not sender:
        return ()
    name = " ".join(sender.replace('"', " ").split())
    if not name or "@" in name or len(name) > 100:
        return ()
    first = name.split()[0]
    return (name, first) if first != name and len(first) >= 2 else (name,)


def _trim_trailing(lines: Sequence[str], lo: int, hi: int) -> int:
    """Drop blank, quoted, lost-quote and rule lines from the end of ``lines[lo:hi]``."""
    # No bound here: one backward pass, and a quote of any length must go (issue: a quote of
    # more than MAX_SCAN_LINES lines used to leak into the reply).
    i = hi
    while i > lo:
        line = lines[i - 1]
        stripped = line.strip()
        if (
            not stripped
            or is_quoted(line)
            or _is_junk(stripped)
            or _is_lost_quote(lines, i - 1, lo, hi)
        ):
            i -= 1
        else:
            break
    return i


def _bottom_post_start(lines: Sequence[str], header: Header, hi: int) -> int | None:
    """First line of the person's text under the quote block that follows ``header``."""
    saw_quote = False
    j = header.end + 1
    while j < hi:
        line = lines[j]
        if not line.strip():
            j += 1
        elif is_quoted(line):
            saw_quote = True
            j += 1
        elif saw_quote and _is_lost_quote(lines, j, header.end + 1, hi):
            j += 1
        else:
            break
    return j if saw_quote and j < hi else None


def _marker_header(lines: list[str], lo: int, hi: int) -> Header | None:
    """Our "reply above this line" marker as a quote header (with the attribution a client
    put right above it), or None when the body does not carry it."""
    if not has_reply_above_marker("\n".join(lines[lo : min(hi, lo + MAX_SCAN_LINES)])):
        return None
    for i in range(lo, min(hi, lo + MAX_SCAN_LINES)):
        if is_reply_above_marker(lines[i]):
            # The attribution the client put right above our marker belongs to the quote.
            window_lo = max(lo, i - MAX_ATTRIBUTION_LINES - 2)
            # The marker line stays in view, so "quote follows" can be seen from above it.
            header, _ = find_header(list(lines[window_lo : i + 1]), 0, i - window_lo)
            if header is not None:
                between = lines[window_lo + header.end + 1 : i]
                if all(not x.strip() or is_quoted(x) for x in between):
                    return Header(window_lo + header.start, i)
            return Header(i, i)
    return None


def split_lines(
    lines: list[str],
    lo: int,
    hi: int,
    forced_cut: int | None = None,
    names: Sequence[str] = (),
) -> Split:
    """Split ``lines[lo:hi]`` into the person's lines (and signature) and the rest.

    ``forced_cut`` is a line known to start quoted material (from HTML structure). ``lines``
    may gain a line when a header shares a line with the person's text. ``names`` are the
    sender's own names (from the From header), the strongest sign of a contact card.
    """
    # Our marker is the strongest signal; it is a quote header like any other, so text the
    # person wrote under the quoted notification is still theirs.
    header = _marker_header(lines, lo, hi)
    if header is None:
        header, inserted = find_header(lines, lo, hi)
        hi += inserted
        if forced_cut is not None and inserted and header is not None and forced_cut > header.start:
            forced_cut += inserted
        if forced_cut is not None and (header is None or forced_cut < header.start):
            header = Header(forced_cut, forced_cut - 1)
    cut = header.start if header is not None else hi
    has_text = any(lines[i].strip() and not is_quoted(lines[i]) for i in range(lo, cut))
    if header is not None and not has_text:
        return _bottom_post(lines, header, hi, forced_cut, names)
    end = _without_footer(lines, lo, _trim_trailing(lines, lo, cut))
    tail = _tail_under_quote(lines, header, hi)
    if tail is not None:
        # A short block under the quote of a top-posted reply is the person's sign-off: that
        # is the signature, and everything above is the text. A list footer there is
        # neither, and leaves the text above whole too.
        if tail[0] == tail[1]:
            return Split(tuple(range(lo, end)), None, nothing_written=False)
        return Split((*range(lo, end), *range(tail[0], tail[1])), tail[0], nothing_written=False)
    signature = find_signature(lines, lo, end, names)
    if signature is None:
        return Split(tuple(range(lo, end)), None, nothing_written=False)
    body_end = _trim_trailing(lines, lo, signature)
    return Split((*range(lo, body_end), *range(signature, end)), signature, nothing_written=False)


def _tail_under_quote(
    lines: Sequence[str], header: Header | None, hi: int
) -> tuple[int, int] | None:
    if header is None:
        return None
    start = _bottom_post_start(lines, header, hi)
    if start is None:
        return None
    full = _trim_trailing(lines, start, hi)
    end = _without_footer(lines, start, full)
    content = [lines[i] for i in range(start, end) if lines[i].strip()]
    if not content and end < full:
        return start, start
    if not content or len(content) > _MAX_TAIL_LINES or sum(map(len, content)) > _MAX_TAIL_CHARS:
        return None
    if any(is_quoted(line) for line in content):
        return None
    block = list(lines[start:end])
    if find_header(block, 0, len(block))[0] is not None:
        return None
    return start, end


def _without_footer(lines: Sequence[str], lo: int, end: int) -> int:
    """``end`` moved above a mailing-list footer that closes ``lines[lo:end]``."""
    start = footer_start(lines, lo, end)
    return end if start is None else _trim_trailing(lines, lo, start)


def _bottom_post(
    lines: list[str], header: Header, hi: int, forced_cut: int | None, names: Sequence[str]
) -> Split:
    start = _bottom_post_start(lines, header, hi)
    if start is None:
        # A header read from the text says the person wrote nothing; a container known
        # only from HTML structure (end < start) leaves that to the fallback rule.
        return Split((), None, nothing_written=header.end >= header.start)
    inner_cut = forced_cut if forced_cut is not None and forced_cut > start else None
    inner = split_lines(lines, start, hi, inner_cut, names)
    if any(is_quoted(lines[i]) for i in inner.keep):
        # Interleaved: keep the first quote block as the context of the first answer.
        context = [i for i in range(header.end + 1, start) if lines[i].strip(" \t>")]
        if context:
            # Empty quoted lines inside the block stay; those around it are just margins.
            context = list(range(context[0], context[-1] + 1))
        return Split((*context, *inner.keep), inner.signature, inner.nothing_written)
    return inner


def starts_with_header(lines: Sequence[str]) -> bool:
    """Is the first non-blank line (quoted or not) a quote header?"""
    head: list[str] = []
    for line in lines:
        if not head and not line.strip():
            continue
        head.append(line.lstrip(" \t>").lstrip() if is_quoted(line) else line)
        if len(head) > MAX_ATTRIBUTION_LINES + 2:
            break
    if not head:
        return False
    header, _ = find_header(head, 0, len(head))
    return header is not None and header.start == 0


def build(lines: Sequence[str], split: Split, source: str) -> ExtractedReply:
    """Assemble the result, falling back to the whole body when nothing would be left."""
    reply = _join(_with_gaps(lines, split.keep))
    if not reply.strip():
        if split.nothing_written or starts_with_header(lines):
            return ExtractedReply("", None, source.strip("\n"), None, source)
        return ExtractedReply(source.strip("\n"), None, "", None, source)
    signature = None
    if split.signature is not None:
        signature = (
            _join(_with_gaps(lines, [i for i in split.keep if i >= split.signature])) or None
        )
    quoted = _join(_left_out(lines, split.keep))
    return ExtractedReply(reply, signature, quoted, None, source)


def _is_range(keep: Sequence[int]) -> bool:
    return not keep or keep[-1] - keep[0] + 1 == len(keep)


def _left_out(lines: Sequence[str], keep: Sequence[int]) -> list[str]:
    if _is_range(keep):
        if not keep:
            return list(lines)
        return [*lines[: keep[0]], *lines[keep[-1] + 1 :]]
    kept = set(keep)
    return [line for i, line in enumerate(lines) if i not in kept]


def _with_gaps(lines: Sequence[str], keep: Sequence[int]) -> list[str]:
    """The kept lines, with a blank line where removed lines left a gap between paragraphs."""
    if _is_range(keep):
        return list(lines[keep[0] : keep[-1] + 1]) if keep else []
    out: list[str] = []
    previous = -2
    for i in keep:
        if i != previous + 1 and out and out[-1].strip():
            out.append("")
        out.append(lines[i])
        previous = i
    return out


def _join(lines: Sequence[str]) -> str:
    return "\n".join(lines).strip("\n")


def extract_text(body: str, *, sender: str | None = None) -> ExtractedReply:
    """Extract the new text from a plain-text reply body.

    ``sender`` is the display name of the person who wrote it, when known: a contact card
    that carries it is their signature.
    """
    source = normalise(body)
    lines = source.split("\n")
    split = split_lines(lines, 0, len(lines), names=sender_names(sender))
    return build(lines, split, source)
