"""``/suppressions``: who postroom must not mail (bounces over the threshold, complaints,
addresses that do not exist, unsubscribes, and the ones an operator adds), listed, added and
lifted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from postroom.access.tokens import Scope
from postroom.errors import Conflict, NotFound
from postroom.store import api as store
from postroom.store import repos
from postroom.web.api.bodies import JsonBody
from postroom.web.api.common import USER_ID, Model, Output, PageQuery, Pages, page_body, start_of
from postroom.web.api.routing import Answer, Call, Endpoint

REASON = "^[a-z_]{1,20}$"


class SuppressionQuery(PageQuery):
    reason: str | None = Field(
        None, pattern=REASON, description="bounces, complaint, gone, manual, ..."
    )
    address: str | None = Field(None, max_length=998, description="Only this address.")
    user: int | None = Field(None, ge=0, lt=1 << 48, description=USER_ID)


class SuppressionOut(Output):
    id: int
    user_id: int | None
    address: str | None
    reason: str
    created_at: datetime
    details: dict[str, Any]


class SuppressionPage(Pages):
    items: list[SuppressionOut]


class SuppressionIn(Model):
    """An address, a user, or both (then sending to either is suppressed)."""

    address: str | None = Field(None, min_length=3, max_length=998)
    user: int | None = Field(None, ge=0, lt=1 << 48, description=USER_ID)
    reason: str = Field("manual", pattern=REASON)
    note: str | None = Field(None, max_length=2000, description="Kept in details.note.")

    @model_validator(mode="after")
    def _needs_one(self) -> SuppressionIn:
        if self.address is None and self.user is None:
            raise ValueError("give an address, a user, or both")
        if self.address is not None and "@" not in self.address:
            raise ValueError(f"address {self.address!r} is not local@domain")
        return self


class LiftQuery(Model):
    reset_score: bool = Field(
        True,
        description="Also restart the user's bounce score (else "
        "the next bounce suppresses them again).",
    )


def list_suppressions(call: Call) -> Answer:
    """Suppressions, newest first."""
    query: SuppressionQuery = call.query
    with call.room.database.transaction() as tx:
        page = store.suppression_page(
            tx,
            start=start_of(call, "suppressions", timed=False),
            limit=query.limit,
            reason=query.reason,
            address=query.address,
            user_id=query.user,
        )
    items = [SuppressionOut.model_validate(s) for s in page.items]
    return Answer(SuppressionPage(**page_body(call, "suppressions", items, page.next)))


def add_suppression(call: Call) -> Answer:
    """Stop mail to an address or a user (from the next copy queued on)."""
    body: SuppressionIn = call.body
    details = {"note": body.note, "by": call.token.name if call.token else None}
    with call.room.database.transaction() as tx:
        existing = store.find_suppression(
            tx, address=body.address if body.user is None else None, user_id=body.user
        )
        if existing is not None:
            raise Conflict(
                f"{body.address or f'user {body.user}'} is suppressed already (#{existing.id}, "
                f"{existing.reason}); DELETE {call.link(f'/suppressions/{existing.id}')} "
                "lifts it"
            )
        if body.user is not None:
            repos.suppress_user(
                tx,
                user_id=body.user,
                address=body.address,
                reason=body.reason,
                now=call.now,
                details=details,
            )
        else:
            assert body.address is not None
            repos.suppress_address(
                tx,
                address=body.address,
                user_id=None,
                reason=body.reason,
                now=call.now,
                details=details,
            )
        made = store.find_suppression(
            tx, address=body.address if body.user is None else None, user_id=body.user
        )
    assert made is not None
    url = call.link(f"/suppressions/{made.id}")
    return Answer(SuppressionOut.model_validate(made), status=201, headers={"Location": url})


def _load(call: Call) -> store.SuppressionRecord:
    suppression_id = call.id_param("suppression_id")
    with call.room.database.transaction() as tx:
        record = store.get_suppression(tx, suppression_id)
    if record is None:
        raise NotFound(f"there is no suppression #{suppression_id} (lifted already?)")
    return record


def get_suppression(call: Call) -> Answer:
    """One suppression."""
    return Answer(SuppressionOut.model_validate(_load(call)))


def lift_suppression(call: Call) -> Answer:
    """Mail the address or user again (and, by default, restart their bounce score)."""
    record = _load(call)
    with call.room.database.transaction() as tx:
        store.delete_suppression(tx, record.id, reset_score=call.query.reset_score)
    return Answer(status=204)


ENDPOINTS = (
    Endpoint(
        "GET",
        "/suppressions",
        "listSuppressions",
        "List suppressions",
        list_suppressions,
        Scope.READ,
        "suppressions",
        query=SuppressionQuery,
        response=SuppressionPage,
        problems=("invalid-field",),
    ),
    Endpoint(
        "POST",
        "/suppressions",
        "addSuppression",
        "Suppress an address or a user",
        add_suppression,
        Scope.ADMIN,
        "suppressions",
        body=JsonBody(SuppressionIn),
        response=SuppressionOut,
        status=201,
        problems=("invalid-request", "invalid-field", "conflict", "unsupported-media-type"),
    ),
    Endpoint(
        "GET",
        "/suppressions/{suppression_id:int}",
        "getSuppression",
        "Read a suppression",
        get_suppression,
        Scope.READ,
        "suppressions",
        response=SuppressionOut,
        problems=("not-found",),
    ),
    Endpoint(
        "DELETE",
        "/suppressions/{suppression_id:int}",
        "liftSuppression",
        "Lift a suppression",
        lift_suppression,
        Scope.ADMIN,
        "suppressions",
        query=LiftQuery,
        status=204,
        problems=("not-found", "invalid-field"),
    ),
)
