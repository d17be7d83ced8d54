"""Finding the trailing signature of a reply.

A signature is looked for only at the end of the person's text, in this order of strength:

1. a delimiter line: the RFC 3676 section 4.3 "-- " (and the "--" that clients leave after
   trimming trailing spaces), or a rule of three or more dashes or underscores followed by a
   short block (a contact card, a mailing-list footer);
2. a mobile or client signature ("Sent from my iPhone", "Envoyé de mon iPhone", "Get Outlook
   for iOS", ...), which also ends the person's text: whatever follows it is the client's;
3. a closing with a name under it ("Thanks,\\nRoman", "Regards,\\n\\nJohn Doe\\nCEO"), never on
   the first line of the reply;
4. a "-Name" line (a dash before one to three words) after a blank line.

A "-Name" line right above a signature found by rules 1-3 joins it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_MOBILE_RE = re.compile(
    r"^[\s(<\[]{0,4}(?:"
    r"sent\s+(?:from|via|with|using|by)\b|sent\s+on\s+the\s+go\b|"
    r"get\s+(?:\[)?outlook\s+for\b|"
    r"envoyé\s+(?:de|depuis|à\s+partir\s+de|avec|via)\b|"
    r"(?:von|gesendet\s+von)\s+(?:meinem|meiner|outlook|mobil)|gesendet\s+(?:von|mit|vom)\b|"
    r"diese\s+nachricht\s+wurde\s+von\s+meinem\b|"
    r"enviado\s+(?:desde|do|de|a\s+partir\s+do|con|com)\b|"
    r"inviato\s+(?:da|dal|con)\b|verzonden\s+(?:met|vanaf|van)\b|verstuurd\s+vanaf\b|"
    r"wysłane\s+z\b|wysłano\s+z\b|skickat\s+från\b|sendt\s+fra\b|skickat\s+med\b|"
    r"lähetetty\s+(?:laitteesta|iphonesta|androidista|puhelimesta)|"
    r"отправлено\s+(?:с|из)\b|"
    r"from\s+my\s+(?:iphone|ipad|android|mobile|phone|samsung|galaxy|blackberry)\b|"
    r"<<\s*sent\s+by\b|"
    r"從我的|发自我的|來自我的|iphoneから送信|androidから送信|"
    r"나의\s+iphone에서\s+보냄|my\s+iphone에서"
    r")",
    re.IGNORECASE,
)
# Closings, by language; the line may end with , ! . or nothing.
_CLOSING_RE = re.compile(
    r"^\s{0,4}(?:thanks(?:\s+(?:again|a\s+lot|so\s+much|in\s+advance))?|thank\s+you(?:\s+(?:again|very\s+much))?|"
    r"many\s+thanks|thx|ty|cheers|regards|best|best\s+regards|best\s+wishes|kind\s+regards|"
    r"warm\s+regards|warmest\s+regards|with\s+regards|sincerely|yours(?:\s+(?:truly|sincerely))?|"
    r"all\s+the\s+best|take\s+care|br|brgds|greetings|merci(?:\s+beaucoup)?|cordialement|"
    r"bien\s+(?:à\s+vous|cordialement)|amitiés|bises|danke|vielen\s+dank|"
    r"(?:viele|liebe|beste)\s+grüße|(?:mit\s+)?freundlichen\s+grüßen|mfg|lg|gruß|grüße|"
    r"saludos(?:\s+cordiales)?|un\s+saludo|atentamente|gracias|obrigad[oa]|"
    r"cumprimentos|abraços?|grazie(?:\s+mille)?|cordiali\s+saluti|saluti|distinti\s+saluti|"
    r"met\s+vriendelijke\s+groet(?:en)?|groet(?:en|jes)?|bedankt|dank\s+je(?:\s+wel)?|"
    r"pozdrawiam|dziękuję|dzięki|med\s+vänliga\s+hälsningar|vänliga\s+hälsningar|hälsningar|"
    r"mvh|med\s+venlig\s+hilsen|venlig\s+hilsen|hilsen|tak|takk|kiitos|terveisin|"
    r"ystävällisin\s+terveisin|с\s+уважением|спасибо|благодарю|よろしくお願いします|"
    r"よろしくお願いいたします|谢谢|謝謝|此致|감사합니다)"
    r"\s{0,3}[,!.:;]{0,3}\s{0,3}$",
    re.IGNORECASE,
)
_DASH_NAME_RE = re.compile(r"^\s{0,4}-\s?[^\W\d_][\w.']{0,30}(?:\s[\w.']{1,30}){0,2}\s*$")
_NAME_RE = re.compile(r"^\s{0,4}[^\W\d_][^\n]{0,60}$")
_RULE_CHARS = frozenset("-_")

# The most lines a signature block may span, counted from its first line.
MAX_SIGNATURE_LINES = 16
_MAX_CARD_LINE = 100


def is_delimiter(line: str) -> bool:
    """True for "-- " and "--", the RFC 3676 section 4.3 signature separator."""
    return line.rstrip() == "--" or line.rstrip() == "—"


def is_mobile_signature(line: str) -> bool:
    """True for client signatures such as "Sent from my iPhone" (many languages)."""
    return len(line) <= 160 and _MOBILE_RE.match(line) is not None


def _is_rule(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= 3 and set(stripped) <= _RULE_CHARS


def _is_card(lines: Sequence[str], start: int, end: int) -> bool:
    """A short block of short lines: a contact card or a list footer, not prose."""
    content = [line for line in lines[start:end] if line.strip()]
    return 0 < len(content) <= 12 and all(len(line) <= _MAX_CARD_LINE for line in content)


def _is_name_block(lines: Sequence[str], start: int, end: int) -> bool:
    content = [line.strip() for line in lines[start:end] if line.strip()]
    if not 1 <= len(content) <= 3:
        return False
    return all(
        len(line) <= 40 and len(line.split()) <= 5 and _NAME_RE.match(line) is not None
        for line in content
    )


def find_signature(lines: Sequence[str], lo: int, end: int) -> int | None:
    """Index of the first line of the trailing signature in ``lines[lo:end]``, or None."""
    first = next((i for i in range(lo, end) if lines[i].strip()), None)
    if first is None:
        return None
    # Only the last lines can hold a signature; look no further back than that.
    content: list[int] = []
    i = end - 1
    while i >= first and len(content) < 2 * MAX_SIGNATURE_LINES:
        if lines[i].strip():
            content.append(i)
        i -= 1
    content.reverse()
    if len(content) < 2:
        return None
    start: int | None = None
    for i in content[-MAX_SIGNATURE_LINES:]:
        line = lines[i]
        if i != first and (is_delimiter(line) or (_is_rule(line) and _is_card(lines, i + 1, end))):
            start = i
            break
    # A client signature ends the person's text even when other client lines pile up under it.
    for i in content[-2 * MAX_SIGNATURE_LINES :]:
        if i != first and (start is None or i < start) and is_mobile_signature(lines[i]):
            start = i
            break
    if start is None:
        start = _find_closing(lines, content, first, end)
    if start is None:
        last = content[-1]
        if (
            last != first
            and _DASH_NAME_RE.match(lines[last])
            and last > 0
            and not lines[last - 1].strip()
        ):
            return last
        return None
    return _extend_with_dash_name(lines, start, first)


def _find_closing(lines: Sequence[str], content: Sequence[int], first: int, end: int) -> int | None:
    # The closing sits among the last four content lines with one to three name lines under it.
    for i in content[-4:-1]:
        if i != first and _CLOSING_RE.match(lines[i]) and _is_name_block(lines, i + 1, end):
            return i
    return None


def _extend_with_dash_name(lines: Sequence[str], start: int, first: int) -> int:
    i = start - 1
    while i > first and not lines[i].strip():
        i -= 1
    if i > first and _DASH_NAME_RE.match(lines[i]) and not lines[i - 1].strip():
        return i
    return start
