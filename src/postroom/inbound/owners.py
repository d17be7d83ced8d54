"""Whose copy a report is about, and whether the report may count against that user.

A bounce (RFC 3464) or complaint (RFC 5965) counts only for the address postroom itself sent
to, and only when the report names that address (its Final-Recipient, Original-Rcpt-To or
the returned copy's recipient): anyone holding one reply address can write a report naming
any address at all, and must not suppress a stranger with it. The suppression then records
postroom's own address, never the report's text.

Where that address comes from, in order: the copy a quoted Message-ID or a VERP delivery id
names (``message_ids.recipient``), else the session behind a reply address
(``sessions.address``, given by the application to ``create_session``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from postroom.addresses import BounceToken, ReplyToken
from postroom.inbound.effects import Effects, SentCopy, SessionView


@dataclass(frozen=True, slots=True)
class Owner:
    """The user a report is about, and the address postroom sent that user's copy to
    (None when nobody recorded it: then the report counts against nobody)."""

    user_id: int | None
    module: int | None
    address: str | None


def owner_of(
    token: ReplyToken | BounceToken | None, effects: Effects, quoted: SentCopy | None
) -> Owner | None:
    """The owner of the copy a report is about: by the Message-ID it quotes, by the VERP
    delivery id, or by the session behind the reply address it was sent to."""
    if quoted is not None:
        return Owner(quoted.user_id, quoted.module, quoted.recipient)
    if isinstance(token, BounceToken):
        copy = effects.find_copy(delivery_id=token.delivery_id)
        if copy is None:
            return None
        effects.steps.append(f"delivery {token.delivery_id} is our copy to user {copy.user_id}")
        return Owner(copy.user_id, copy.module, copy.recipient)
    if isinstance(token, ReplyToken):
        session = effects.find_session(token.session_key)
        if session is None or (session.module, session.user_id) != (token.module, token.user):
            return Owner(token.user, token.module, None)
        return Owner(token.user, token.module, sent_address(session))
    return None


def sent_address(session: SessionView) -> str | None:
    """The address postroom sent the reply address of ``session`` to."""
    return session.address


def names(reported: Iterable[str], address: str) -> bool:
    """Whether a report's recipients include ``address`` (domains and, as mail servers
    treat them in practice, local parts compared without case)."""
    wanted = address.strip().lower()
    return any(r.strip().strip("<>").lower() == wanted for r in reported)
