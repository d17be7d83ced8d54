"""HTML replies: render to text with structure kept, find the quote, return text and HTML.

The body is parsed once (lexbor via selectolax) and rendered to lines of text: paragraphs,
line breaks, list items ("- " or "1. "), table rows, links as "text <url>" when the address
is not the text itself. Two kinds of structure feed the plain-text rules of :mod:`.text`:

* containers that clients use only for quoted or forwarded mail start the quoted part
  wherever they sit: Gmail ``div.gmail_quote``, Outlook ``#divRplyFwdMsg``, ``#appendonsend``
  and ``#OLK_SRC_BODY_SECTION``, Yahoo ``.yahoo_quoted``, Thunderbird ``.moz-cite-prefix``
  and ``.moz-forward-container``, Proton ``.protonmail_quote``, Zimbra's ``__QUOTED_TEXT__``
  and ``zwchr`` divider, and others listed below;
* ``blockquote type="cite"`` (Apple Mail, Thunderbird) renders as ``>``-quoted lines, so
  interleaved and bottom-posted HTML replies follow the same policy as plain text. Other
  blockquotes (Gmail's "quote" formatting button) are the person's own formatting.

Outlook's copied header blocks ("From:/Sent:/To:", localised) and attribution lines are then
found in the rendered text like in plain text. The reply part of the document is cut out of
the DOM and sanitised with nh3 for applications that render it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape

import nh3
from selectolax.lexbor import LexborHTMLParser, LexborNode

from postroom.understand.replies.text import Split, build, extract_text, split_lines
from postroom.understand.replies.types import ExtractedReply

_SKIP = frozenset(
    [
        "head",
        "style",
        "script",
        "title",
        "meta",
        "link",
        "template",
        "xml",
        "noscript",
        "object",
        "iframe",
        "svg",
        "math",
        "-comment",
        "o:p",
    ]
)
_BLOCK = frozenset(
    [
        "div",
        "p",
        "ul",
        "ol",
        "li",
        "tr",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "section",
        "article",
        "header",
        "footer",
        "address",
        "center",
        "dl",
        "dt",
        "dd",
        "form",
        "fieldset",
        "hr",
        "figure",
        "main",
        "nav",
        "aside",
        "caption",
        "body",
        "html",
    ]
)
_PARAGRAPH = frozenset(
    ["p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "blockquote", "pre"]
)
_QUOTE_CLASSES = (
    "gmail_quote_container",
    "yahoo_quoted",
    "moz-cite-prefix",
    "moz-forward-container",
    "protonmail_quote",
    "zmail_extra",
    "outlookmessageheader",
    "x_divrplyfwdmsg",
    "mailru-quote",
)
_QUOTE_IDS = (
    "divrplyfwdmsg",
    "appendonsend",
    "olk_src_body_section",
    "isforwardcontent",
    "mail-editor-reference-message-container",
    "zwchr",
    "yahoo_quoted",
)
_WS_RE = re.compile(r"\s+")
# Bodies with more tags than this are read as text (see extract_html).
MAX_TAGS = 20_000
_BREAK_TAG_RE = re.compile(r"<(?:br|/?p|/?div|/?li|/?tr|/?h\d|/?blockquote)\b[^<>]{0,2000}>", re.I)
_ANY_TAG_RE = re.compile(r"<[^<>]{0,2000}>")
# Deeper nesting than this is flattened before parsing (see flatten_deep_nesting).
MAX_DEPTH = 200
_TAG_RE = re.compile(r"<(/?)([A-Za-z][\w:-]{0,30})(?:\s[^<>]{0,2000})?/?>")
# Void elements and those closed implicitly do not add to nesting depth.
_NOT_NESTING = frozenset(
    [
        "br",
        "img",
        "hr",
        "meta",
        "input",
        "link",
        "col",
        "area",
        "base",
        "wbr",
        "source",
        "track",
        "embed",
        "param",
        "p",
        "li",
        "td",
        "th",
        "tr",
        "option",
        "dt",
        "dd",
    ]
)
_ALLOWED_TAGS = frozenset(
    [
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "code",
        "div",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
    ]
)


@dataclass(slots=True)
class _Line:
    parts: list[str] = field(default_factory=list)
    node: LexborNode | None = None
    depth: int = 0
    # The line where the outermost blockquote around this line starts, if any.
    blockquote: int | None = None


@dataclass(slots=True)
class _Renderer:
    lines: list[_Line] = field(default_factory=list)
    current: _Line = field(default_factory=_Line)
    forced_cut: int | None = None
    cut_node: LexborNode | None = None

    blockquote: int | None = None

    def write(self, text: str, node: LexborNode, depth: int) -> None:
        if not self.current.parts:
            text = text.lstrip()
            if not text:
                return
            self.current.node = node
            self.current.depth = depth
            self.current.blockquote = self.blockquote
        self.current.parts.append(text)

    def newline(self, *, force: bool = False, blank: bool = False) -> None:
        if self.current.parts or force:
            self.lines.append(self.current)
            self.current = _Line()
        if blank and self.lines and self.lines[-1].parts:
            self.lines.append(_Line())

    def mark_quote(self, node: LexborNode) -> None:
        if self.forced_cut is None:
            self.newline()
            self.forced_cut = len(self.lines)
            self.cut_node = node

    def text_lines(self) -> list[str]:
        self.newline()
        out = []
        for line in self.lines:
            text = "".join(line.parts).rstrip()
            out.append(("> " * line.depth + text) if line.depth else text)
        return out


def _is_quote_container(node: LexborNode) -> bool:
    attrs = node.attributes
    classes = (attrs.get("class") or "").lower()
    if classes and (
        any(name in classes for name in _QUOTE_CLASSES)
        or (node.tag == "div" and "gmail_quote" in classes.split())
    ):
        return True
    ident = (attrs.get("id") or "").lower()
    if ident and any(ident.startswith(name) for name in _QUOTE_IDS):
        return True
    return attrs.get("data-marker") in ("__QUOTED_TEXT__", "__DIVIDER__")


def _render(root: LexborNode) -> _Renderer:
    out = _Renderer()
    # An explicit stack: deeply nested mail must not hit the recursion limit.
    stack: list[tuple[LexborNode, int, bool]] = [(root, 0, False)]
    pre = 0
    opened_at: set[int] = set()
    while stack:
        node, depth, closing = stack.pop()
        tag = node.tag or ""
        if closing:
            if tag in _BLOCK:
                out.newline(blank=tag in _PARAGRAPH)
            if tag == "blockquote" and node.mem_id in opened_at:
                out.blockquote = None
            if tag == "pre":
                pre -= 1
            elif tag == "a":
                href = (node.attributes.get("href") or "").strip()
                text = node.text(deep=True).strip()
                if href.startswith(("http://", "https://")) and href.rstrip("/") != text.rstrip(
                    "/"
                ):
                    out.write(f" <{href}>", node, depth)
            elif tag in ("td", "th"):
                out.write(" ", node, depth)
            continue
        if tag == "-text":
            raw = node.text_content or ""
            out.write(raw if pre else _WS_RE.sub(" ", raw), node, depth)
            continue
        if tag in _SKIP or tag.startswith("o:") or node.is_comment_node:
            continue
        if tag == "br":
            out.newline(force=True)
            continue
        if tag in ("img", "input", "button", "select", "video", "audio"):
            continue
        if _is_quote_container(node):
            out.mark_quote(node)
        if tag in _BLOCK:
            out.newline(blank=tag in _PARAGRAPH)
        if tag == "pre":
            pre += 1
        if tag == "blockquote":
            if out.blockquote is None:
                out.blockquote = len(out.lines)
                opened_at.add(node.mem_id)
            if (node.attributes.get("type") or "").lower() == "cite":
                depth += 1
        if tag == "li":
            parent = node.parent
            out.write("1. " if parent is not None and parent.tag == "ol" else "- ", node, depth)
        stack.append((node, depth, True))
        children = []
        child = node.child
        while child is not None:
            children.append(child)
            child = child.next
        for child in reversed(children):
            stack.append((child, depth, False))
    return out


def _truncate_from(node: LexborNode) -> None:
    """Remove ``node`` and everything after it in document order."""
    current: LexborNode | None = node
    while current is not None and current.tag not in ("body", "html", None):
        sibling = current.next
        while sibling is not None:
            following = sibling.next
            sibling.decompose()
            sibling = following
        parent = current.parent
        if current is node:
            current.decompose()
        current = parent


def sanitise(html: str) -> str:
    """Clean HTML for display: only formatting tags, links with safe schemes, no scripts."""
    return nh3.clean(
        html,
        tags=set(_ALLOWED_TAGS),
        attributes={"a": {"href", "title"}, "td": {"colspan", "rowspan"}},
        url_schemes={"http", "https", "mailto"},
    ).strip()


def _first_cut(renderer: _Renderer, split: Split) -> int | None:
    """The first rendered line left out after the person's first line."""
    keep = [i for i in split.keep if renderer.lines[i].parts]
    if not keep:
        return None
    kept = set(split.keep)
    return next(
        (
            i
            for i in range(keep[0], len(renderer.lines))
            if i not in kept and renderer.lines[i].parts
        ),
        None,
    )


def _reply_html(tree: LexborHTMLParser, renderer: _Renderer, split: Split) -> str:
    if not any(renderer.lines[i].parts for i in split.keep):
        return ""
    cut = _first_cut(renderer, split)
    if cut is not None:
        node = renderer.cut_node if cut == renderer.forced_cut else renderer.lines[cut].node
        if node is not None:
            _truncate_from(node)
    body = tree.body
    inner = body.inner_html if body is not None else tree.html
    return sanitise(inner or "")


def flatten_deep_nesting(html: str, max_depth: int = MAX_DEPTH) -> str:
    """Drop the tags that nest deeper than ``max_depth``, keeping their text.

    HTML parsers and sanitisers spend time quadratic in nesting depth; no real message nests
    hundreds of elements deep, so a hostile one is flattened first, in one linear pass.
    """
    if html.count("<") < max_depth:
        return html
    out: list[str] = []
    depth = 0
    dropped = 0
    position = 0
    for match in _TAG_RE.finditer(html):
        closing, name = match.group(1) == "/", match.group(2).lower()
        if name in _NOT_NESTING:
            continue
        if not closing:
            depth += 1
            if depth <= max_depth:
                continue
            dropped += 1
        else:
            depth = max(depth - 1, 0)
            if dropped == 0:
                continue
            dropped -= 1
        out.append(html[position : match.start()])
        position = match.end()
    out.append(html[position:])
    return "".join(out)


def _strip_tags(html: str) -> str:
    """A plain rendering for bodies too large to walk node by node (linear, regex-only)."""
    text = _BREAK_TAG_RE.sub("\n", html)
    text = _ANY_TAG_RE.sub("", text)
    return unescape(text)


def extract_html(body: str) -> ExtractedReply:
    """Extract the new text (and its HTML) from an HTML reply body."""
    if body.count("<") > MAX_TAGS:
        # No real reply has this many tags; keep the cost linear and read it as text.
        result = extract_text(_strip_tags(body))
        return _with_html(result, _text_to_html(result.reply))
    body = flatten_deep_nesting(body)
    tree = LexborHTMLParser(body)
    root = tree.body if tree.body is not None else tree.root
    if root is None:
        return ExtractedReply("", None, "", "", "")
    renderer = _render(root)
    lines = renderer.text_lines()
    source = "\n".join(lines)
    before = len(lines)
    split = split_lines(lines, 0, len(lines), renderer.forced_cut)
    if len(lines) == before:
        # A quote header inside a blockquote makes the whole blockquote the quote.
        cut = _first_cut(renderer, split)
        if cut is not None:
            start = renderer.lines[cut].blockquote
            if start is not None and start < cut:
                split = split_lines(lines, 0, len(lines), start)
    result = build(lines, split, source)
    if len(lines) != before:
        # A header was split off a shared line; the DOM cannot follow, so render from text.
        return _with_html(result, _text_to_html(result.reply))
    if result.reply and not split.keep:
        return _with_html(result, sanitise(body))
    return _with_html(result, _reply_html(tree, renderer, split))


def _text_to_html(text: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    return sanitise(
        "".join("<p>" + nh3.clean_text(p).replace("\n", "<br>") + "</p>" for p in paragraphs)
    )


def _with_html(result: ExtractedReply, html: str) -> ExtractedReply:
    return ExtractedReply(result.reply, result.signature, result.quoted, html, result.source)
