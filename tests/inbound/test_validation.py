"""Item 10: addresses are never dead from the start, and user ids have one limit everywhere:
what a reply address carries (format 1: 48 bits)."""

from __future__ import annotations

import pytest

from postroom.app import Postroom
from postroom.inbound.types import Outcome, Reply
from support.messages import reply

LIMIT = 2**48


def test_zero_uses_is_refused(room: Postroom) -> None:
    with pytest.raises(ValueError, match="uses"):
        room.create_session("forum", 1, uses=0)
    with pytest.raises(ValueError, match="uses"):
        room.handler("once", uses=0)


def test_the_largest_user_id_an_address_carries_works_end_to_end(
    room: Postroom, received: list[Reply]
) -> None:
    issued = room.create_session("forum", LIMIT - 1)
    assert room.receive(reply(issued.address)).outcome is Outcome.DISPATCHED
    assert received[0].user_id == LIMIT - 1


@pytest.mark.parametrize("user", [-1, LIMIT, 2**63, True])
def test_user_ids_outside_the_limit_are_refused_everywhere(room: Postroom, user: int) -> None:
    with pytest.raises(ValueError, match="2\\^48"):
        room.create_session("forum", user)
    with pytest.raises(ValueError, match="2\\^48"):
        room.remember_sent("x@app.example.com", user=user)
