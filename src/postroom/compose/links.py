"""Where a body changes per copy: its links, its unsubscribe placeholder and its end.

A body is scanned once, when the template is built, into a :class:`Program`: literal text
with numbered slots between the pieces. A copy is the literals joined with that copy's values
for the slots, so personalising never parses HTML again.

What is a tracked link (docs/compose.md has the same rules for authors):

* HTML: the ``href`` of an ``a`` or ``area`` element whose URL is absolute ``http:`` or
  ``https:``. Never ``mailto:``, ``tel:``, ``sms:``, an anchor (``#top``), a relative URL, the
  unsubscribe placeholder, or an element marked ``data-postroom-track="off"`` (the attribute
  is removed from every copy, whatever its value).
* Text: every bare ``http:`` or ``https:`` URL (RFC 3986 §3; trailing sentence punctuation
  and an unbalanced closing parenthesis are not part of it, as RFC 3986 Appendix C advises),
  except a URL the HTML part marks ``data-postroom-track="off"`` anywhere: the author's "do not
  track" applies to the URL in both parts.
* One URL gets one link number, the first time it is met (HTML first, then text), so a click
  token names the URL whichever part it was clicked in.

The unsubscribe placeholder is ``postroom:unsubscribe``: an ``href`` value in HTML, a bare
token in text. Each copy puts its own https unsubscribe URL there.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from enum import IntEnum
from html.parser import HTMLParser
from urllib.parse import urlsplit

PLACEHOLDER = "postroom:unsubscribe"
TRACK_ATTRIBUTE = "data-postroom-track"
_LINK_TAGS = frozenset({"a", "area"})
_ATTRIBUTE = re.compile(
    r"""(?P<space>\s*)(?P<name>[^\s/>"'=][^\s/>"'=]*)(?:\s*=\s*(?P<value>"[^"]*"|'[^']*'|[^\s>"'`=<]+))?"""
)
_TEXT_TARGETS = re.compile(
    r"(?P<unsubscribe>postroom:unsubscribe)|(?P<url>https?://[^\s<>\"]+)", re.IGNORECASE
)
_TRAILING = ".,;:!?'\"*"
_CLOSERS = {")": "(", "]": "[", "}": "{"}


class SlotKind(IntEnum):
    """What a slot of a body holds in each copy."""

    LINK = 0  # a tracked link: the copy's click URL, or the original
    UNSUBSCRIBE = 1  # the placeholder: the copy's https unsubscribe URL
    END = 2  # the end of the body (before </body>): unsubscribe footer and open pixel


@dataclass(frozen=True, slots=True)
class Slot:
    """One place of a body that changes per copy. ``original`` is the text written there
    when nothing is personalised (the attribute value with its quotes, in HTML)."""

    kind: SlotKind
    link: int = -1
    original: str = ""


@dataclass(frozen=True, slots=True)
class Program:
    """A body as literals with a slot between each two: ``len(literals) == len(slots) + 1``."""

    literals: tuple[str, ...]
    slots: tuple[Slot, ...]

    @property
    def has_placeholder(self) -> bool:
        return any(slot.kind is SlotKind.UNSUBSCRIBE for slot in self.slots)

    def render(self, values: list[str]) -> str:
        """The body with ``values[i]`` in slot ``i``."""
        out = [self.literals[0]]
        for value, literal in zip(values, self.literals[1:], strict=True):
            out.append(value)
            out.append(literal)
        return "".join(out)


class LinkTable:
    """The email's tracked URLs in link-number order, one number per distinct URL."""

    def __init__(self, off: frozenset[str] = frozenset()) -> None:
        self.urls: list[str] = []
        self._numbers: dict[str, int] = {}
        self.off = off

    def number(self, url: str) -> int:
        known = self._numbers.get(url)
        if known is None:
            known = self._numbers[url] = len(self.urls)
            self.urls.append(url)
        return known


def is_trackable(url: str) -> bool:
    """An absolute http(s) URL with a host: the only kind a click URL may stand in for."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def normalise_newlines(text: str) -> str:
    """CRLF and lone CR become LF, and the text ends with one, as the stdlib's
    ``set_content`` makes every text part end with a line break."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


class _Builder:
    def __init__(self) -> None:
        self.literals: list[str] = []
        self.slots: list[Slot] = []
        self._pending: list[str] = []

    def text(self, piece: str) -> None:
        if piece:
            self._pending.append(piece)

    def slot(self, slot: Slot) -> None:
        self.literals.append("".join(self._pending))
        self._pending = []
        self.slots.append(slot)

    def build(self) -> Program:
        return Program((*self.literals, "".join(self._pending)), tuple(self.slots))


@dataclass(frozen=True, slots=True)
class _Tag:
    start: int
    raw: str
    attrs: list[tuple[str, str | None]]


class _Scanner(HTMLParser):
    """Collects the link start tags and the last ``</body>`` with their source offsets."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._line_starts = [0]
        for match in re.finditer("\n", source):
            self._line_starts.append(match.end())
        self.tags: list[_Tag] = []
        self.body_end: int | None = None

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _LINK_TAGS:
            raw = self.get_starttag_text() or ""
            self.tags.append(_Tag(self._offset(), raw, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.body_end = self._offset()


@dataclass(frozen=True, slots=True)
class _Attribute:
    name: str
    value: str | None  # unescaped, as the browser reads it
    raw_value: tuple[int, int] | None  # span of the value with its quotes, inside the tag
    whole: tuple[int, int]  # span of the attribute with the white space before it


def _attributes(raw: str) -> list[_Attribute]:
    name_end = re.match(r"<[^\s/>]+", raw)
    position = name_end.end() if name_end else len(raw)
    found: list[_Attribute] = []
    while True:
        match = _ATTRIBUTE.match(raw, position)
        if match is None or match.end() == position:
            # skip a stray "/" or other noise between attributes, as browsers do
            if position >= len(raw) - 1:
                return found
            position += 1
            continue
        value = match.group("value")
        if value is not None and value[:1] in "\"'":
            text: str | None = html.unescape(value[1:-1])
        else:
            text = html.unescape(value) if value is not None else None
        span = match.span("value") if value is not None else None
        found.append(_Attribute(match.group("name").lower(), text, span, match.span()))
        position = match.end()


def scan_html(source: str, table: LinkTable | None, track_off: set[str]) -> Program:
    """The program of an HTML body. ``table`` is None when clicks are not tracked.

    ``track_off`` collects the URLs the author marked as not to be tracked.
    """
    scanner = _Scanner(source)
    scanner.feed(source)
    scanner.close()
    out = _Builder()
    position = 0
    for tag in scanner.tags:
        if source[tag.start : tag.start + len(tag.raw)] != tag.raw:
            continue  # the parser and the source disagree: leave the tag as written
        attributes = _attributes(tag.raw)
        if [a.name for a in attributes] != [name for name, _ in tag.attrs]:
            continue
        off = any(
            a.name == TRACK_ATTRIBUTE and (a.value or "").strip().lower() == "off"
            for a in attributes
        )
        href = next((a for a in attributes if a.name == "href"), None)
        edits: list[tuple[tuple[int, int], Slot | None]] = [
            (a.whole, None) for a in attributes if a.name == TRACK_ATTRIBUTE
        ]
        if href is not None and href.value is not None and href.raw_value is not None:
            url = href.value.strip()
            start, end = href.raw_value
            original = tag.raw[start:end]
            if url.lower() == PLACEHOLDER:
                edits.append((href.raw_value, Slot(SlotKind.UNSUBSCRIBE, original=original)))
            elif off:
                track_off.add(url)
            elif table is not None and is_trackable(url):
                edits.append((href.raw_value, Slot(SlotKind.LINK, table.number(url), original)))
        for (start, end), slot in sorted(edits, key=lambda edit: edit[0]):
            out.text(source[position : tag.start + start])
            if slot is not None:
                out.slot(slot)
            position = tag.start + end
    # Footer and pixel go before </body>, or before the final line break when there is none.
    end = len(source) - 1 if source.endswith("\n") else len(source)
    if scanner.body_end is not None and scanner.body_end >= position:
        end = scanner.body_end
    end = max(end, position)
    out.text(source[position:end])
    out.slot(Slot(SlotKind.END))
    out.text(source[end:])
    return out.build()


def _trim(url: str) -> str:
    while url:
        last = url[-1]
        unbalanced = last in _CLOSERS and url.count(_CLOSERS[last]) < url.count(last)
        if last in _TRAILING or unbalanced:
            url = url[:-1]
        else:
            break
    return url


def scan_text(source: str, table: LinkTable | None) -> Program:
    """The program of a plain-text body: bare URLs, the placeholder, and its end."""
    out = _Builder()
    position = 0
    for match in _TEXT_TARGETS.finditer(source):
        if match.group("unsubscribe"):
            out.text(source[position : match.start()])
            out.slot(Slot(SlotKind.UNSUBSCRIBE, original=match.group()))
            position = match.end()
            continue
        url = _trim(match.group("url"))
        if table is None or url in table.off or not is_trackable(url):
            continue
        out.text(source[position : match.start()])
        out.slot(Slot(SlotKind.LINK, table.number(url), url))
        position = match.start() + len(url)
    out.text(source[position:])
    out.slot(Slot(SlotKind.END))
    return out.build()
