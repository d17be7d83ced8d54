"""The plain-text alternative of an HTML-only email, derived with inscriptis.

inscriptis (Apache-2.0) lays HTML out as text the way a browser would: block elements on
their own lines, lists with bullets, tables in columns, ``<script>`` and ``<style>`` dropped,
entities decoded. A link is written as its text followed by its URL in angle brackets, the
delimiters RFC 3986 Appendix C recommends for URLs in plain text, so the text part keeps every
link (and the unsubscribe placeholder) for the per-copy splice to find.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from postroom.compose.links import PLACEHOLDER, is_trackable

_SAME_URL_TWICE = re.compile(r"(\S+) <\1>")


def _shown_target(attrs: dict[str, Any]) -> str:
    href = str(attrs.get("href") or "").strip()
    if href.lower() == PLACEHOLDER or is_trackable(href):
        return href
    if href.lower().startswith("mailto:"):
        return href[len("mailto:") :].split("?", 1)[0]
    return ""


def _a_start(state: Any, attrs: dict[str, Any]) -> None:
    state.link_target = _shown_target(attrs)


def _a_end(state: Any) -> None:
    if state.link_target:
        state.tags[-1].write(f" <{state.link_target}>")
    state.link_target = ""


@cache
def _config() -> Any:
    # Imported on first use: inscriptis brings lxml, which every process importing postroom
    # (an MTA pipe runs one per message) would otherwise load for nothing.
    from inscriptis.model.config import ParserConfig
    from inscriptis.model.tag import CustomHtmlTagHandlerMapping

    return ParserConfig(
        display_links=True,
        custom_html_tag_handler_mapping=CustomHtmlTagHandlerMapping(
            start_tag_mapping={"a": _a_start}, end_tag_mapping={"a": _a_end}
        ),
    )


def html_to_text(html: str) -> str:
    """Plain text for ``html``; a link whose text is its URL is written once."""
    from inscriptis import get_text

    text = get_text(html, _config()) if html.strip() else ""
    lines = [line.rstrip() for line in _SAME_URL_TWICE.sub(r"\1", text).split("\n")]
    return "\n".join(lines).strip("\n") + "\n"
