"""Replies to digests: which item did the person mean?

A digest's sessions (one per item and one for the whole digest) carry the item list under
:data:`DIGEST_KEY`; the attribution itself is pure (:mod:`postroom.understand.digest`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from postroom.understand.digest import DigestTarget, target_digest_item
from postroom.understand.replies import ExtractedReply

DIGEST_KEY = "postroom_digest"


@dataclass(frozen=True, slots=True)
class DigestChoice:
    """The item a digest reply was attributed to (None: could not tell) and the item list."""

    target: DigestTarget | None
    items: list[dict[str, Any]]

    def data_of(self, number: int) -> Any:
        return next((item.get("data") for item in self.items if item["number"] == number), None)


def digest_of(session_data: Any) -> dict[str, Any] | None:
    if isinstance(session_data, dict):
        digest = session_data.get(DIGEST_KEY)
        if isinstance(digest, dict) and isinstance(digest.get("items"), list):
            return digest
    return None


def choose_item(digest: dict[str, Any], reply: ExtractedReply, subject: str) -> DigestChoice:
    items = [item for item in digest["items"] if isinstance(item, dict) and "number" in item]
    own = digest.get("item") or None
    target = target_digest_item(
        recipient_item=own,
        reply=reply,
        subject=subject,
        item_numbers=[int(item["number"]) for item in items],
    )
    return DigestChoice(target=target, items=items)
