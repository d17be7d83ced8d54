"""Error notices of mailing list managers, which return a post to its sender without any report.

fml (a list manager common in Japan) marks every message it sends with ``X-MLServer: fml ...``
and gives the notices it writes itself a Message-ID of its own shape
(``<200504292334.FMLFFFFFF0.list@example.org>``): the ``.FML`` piece tells a notice from a
post it relays to the list. A notice names the list that refused the post in angle brackets at
the end of a sentence ("You are not a member of this mailing list <list@example.org>.",
"Duplicated Message-ID in <list@example.org>."): that list is the recipient the post failed for.
"""

from __future__ import annotations

import re

from .mime import Part

# The list named at the end of a sentence, as fml words its notices.
_LIST = re.compile(r"<([^<>\s@]+@[^<>\s]+)>\.?[ \t]*$", re.MULTILINE)


def list_notice_recipient(top: Part, notice: str) -> str | None:
    """The list an fml error notice says refused the post, or None if this is no such notice."""
    server = (top.get("x-mlserver") or "").lstrip().lower()
    if not server.startswith("fml") or ".fml" not in (top.get("message-id") or "").lower():
        return None
    m = _LIST.search(notice, 0, 4096)
    return m.group(1).lower() if m else None
