"""A hit: one request to a tracking URL, as the endpoints saw it, before any judgement.

The endpoints do nothing with a hit but hand it on (see ``recorder.py``); the event sink
judges it (human or machine) and writes it. On the wire between a server worker and the sink
a hit is one line of tab-separated fields, so a worker pays a string join per request, not a
serialiser::

    kind <TAB> delivery <TAB> link <TAB> unix-ns <TAB> method <TAB> ip <TAB> user agent <LF>

``kind`` is ``o`` (open) or ``c`` (click); ``link`` is empty for opens. Tabs, line breaks and
other control characters in the user agent are replaced by spaces, and it is cut at 512
characters: it is a raw detail kept for the record, not something to trust.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_AGENT = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class HitKind:
    OPEN = "o"
    CLICK = "c"


@dataclass(frozen=True, slots=True)
class Hit:
    kind: str  # HitKind.OPEN or HitKind.CLICK
    delivery_id: int
    link: int | None
    at_ns: int  # Unix time in nanoseconds, taken when the request arrived
    method: str
    ip: str
    agent: str

    def line(self) -> str:
        return encode_hit(
            self.kind, self.delivery_id, self.link, self.at_ns, self.method, self.ip, self.agent
        )


def clean_agent(agent: str) -> str:
    return _CONTROL.sub(" ", agent[:MAX_AGENT])


def encode_hit(
    kind: str, delivery_id: int, link: int | None, at_ns: int, method: str, ip: str, agent: str
) -> str:
    link_text = "" if link is None else str(link)
    return f"{kind}\t{delivery_id}\t{link_text}\t{at_ns}\t{method}\t{ip}\t{clean_agent(agent)}\n"


def parse_hit(line: str) -> Hit | None:
    """A line back into a hit; None for a line that is not one (a torn write)."""
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 7 or parts[0] not in (HitKind.OPEN, HitKind.CLICK):
        return None
    try:
        delivery = int(parts[1])
        link = int(parts[2]) if parts[2] else None
        at_ns = int(parts[3])
    except ValueError:
        return None
    if (parts[0] == HitKind.CLICK) != (link is not None):
        return None
    return Hit(parts[0], delivery, link, at_ns, parts[4][:10], parts[5][:64], parts[6])
