"""Problem types of the HTTP API (RFC 9457, "Problem Details for HTTP APIs"), kept as data:
each has a stable ``type`` URI (``/api/problems/<slug>``, served by the API itself, so a
client or a person can look one up), a title, an HTTP status, and what to do about it.

:func:`problem_of` turns postroom's exception tree into one of them, so every error any
route raises is answered the same way: ``application/problem+json`` with ``type``,
``title``, ``status``, ``detail`` (what was wrong and how to fix it) and ``instance`` (the
path), plus ``field`` and ``errors`` (RFC 9457 section 3.2 extension members) naming the
offending inputs of a validation failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from postroom.errors import (
    AccountError,
    AddressError,
    ApiError,
    ComposeError,
    ConfigError,
    Conflict,
    InvalidRequest,
    MessageInProgress,
    StoreUnavailable,
    UnparseableMessage,
)


@dataclass(frozen=True, slots=True)
class ProblemType:
    slug: str
    status: int
    title: str
    description: str


#: Every problem type the API answers with (source: this API's own contract, docs/api.md).
PROBLEM_TYPES: tuple[ProblemType, ...] = (
    ProblemType(
        "invalid-request",
        400,
        "The request cannot be read",
        "The body is not JSON (or not the JSON of an object), a header is malformed, or the "
        "request is otherwise not one the route reads. The detail says where.",
    ),
    ProblemType(
        "invalid-field",
        422,
        "A parameter or field is invalid",
        "One or more query parameters or body fields cannot be used as given. 'field' names "
        "the first, 'errors' lists each with a JSON Pointer (RFC 6901) into the body.",
    ),
    ProblemType(
        "invalid-email",
        422,
        "The email cannot be built",
        "An address, header, attachment or option of the email is invalid; 'field' names it "
        "as the request wrote it (to[2], headers['X-Tag']) and the detail says the fix. "
        "Nothing was queued.",
    ),
    ProblemType(
        "unknown-account",
        422,
        "No such sending account",
        "The email names an account that does not exist or cannot send. List the accounts "
        "with GET /api/accounts; an operator adds one with `postroom accounts add`.",
    ),
    ProblemType(
        "invalid-address",
        422,
        "Not a reply address of this postroom",
        "The address does not decode with this postroom's keys (another domain, altered, "
        "made up or signed with a retired key).",
    ),
    ProblemType(
        "unparseable-message",
        422,
        "The bytes are not an email message",
        "The body of POST /api/inbound must be one whole message (RFC 5322): header fields, "
        "an empty line, the body.",
    ),
    ProblemType(
        "unauthorized",
        401,
        "A valid bearer token is needed",
        "Send 'Authorization: Bearer <token>' (RFC 6750). An operator makes tokens with "
        "`postroom tokens create NAME --scope read`; revoked and expired ones are refused.",
    ),
    ProblemType(
        "forbidden",
        403,
        "The token lacks the scope this route needs",
        "The detail names the scope (send, read, inbound or admin); use a token that has it, "
        "or ask an operator for one.",
    ),
    ProblemType(
        "not-found",
        404,
        "No such resource",
        "Nothing exists at this path: check the id, or list the collection.",
    ),
    ProblemType(
        "method-not-allowed",
        405,
        "The route does not take this method",
        "The Allow header lists the methods it takes.",
    ),
    ProblemType(
        "conflict",
        409,
        "The request contradicts what is stored",
        "The detail says what is in the way (a name taken, an address suppressed already).",
    ),
    ProblemType(
        "already-handled",
        409,
        "The inbound message was handled already",
        "Replaying it would dispatch it a second time: ask for a dry run "
        '({"dry_run": true}) to see what would happen, or force it ({"force": true}).',
    ),
    ProblemType(
        "payload-too-large",
        413,
        "The body is too large",
        "The route accepts bodies up to the size the detail names; send less (attachments "
        "as links, for instance).",
    ),
    ProblemType(
        "unsupported-media-type",
        415,
        "The body's Content-Type is not one the route reads",
        "The detail lists the types it reads (application/json, multipart/form-data, "
        "message/rfc822).",
    ),
    ProblemType(
        "try-again",
        503,
        "The same message is being handled right now",
        "Another delivery of this very message is in progress; send it again after the "
        "Retry-After delay: it is then recognised as a duplicate or handled once.",
    ),
    ProblemType(
        "database-unavailable",
        503,
        "The database cannot be reached",
        "Nothing was done; try again after the Retry-After delay.",
    ),
    ProblemType(
        "server-misconfigured",
        500,
        "postroom's configuration is incomplete",
        "The detail names the configuration key and the fix, for the operator.",
    ),
    ProblemType(
        "internal-error",
        500,
        "postroom failed on this request",
        "A fault of postroom or of the application's handler; the server log has the "
        "incident id of the detail. Try again later, and report it if it persists.",
    ),
)

BY_SLUG = {p.slug: p for p in PROBLEM_TYPES}
TYPE_PREFIX = "/api/problems/"


def type_uri(slug: str) -> str:
    return TYPE_PREFIX + slug


def problem_of(error: Exception) -> ApiError | None:
    """The API error a postroom exception stands for, or None (an unexpected fault)."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, ComposeError):
        return InvalidRequest(
            str(error),
            field=error.field,
            errors=(
                {
                    "field": error.field,
                    "pointer": pointer_of(error.field),
                    "detail": f"{error.problem}. Fix: {error.fix}",
                },
            ),
            problem="invalid-email",
        )
    if isinstance(error, AccountError):
        return InvalidRequest(str(error), field="account", problem="unknown-account")
    if isinstance(error, AddressError):
        return InvalidRequest(
            f"{error} ({type(error).__name__})", field="address", problem="invalid-address"
        )
    if isinstance(error, UnparseableMessage):
        return InvalidRequest(str(error), problem="unparseable-message")
    if isinstance(error, MessageInProgress):
        return Conflict(
            str(error) or "the same message is being handled right now",
            problem="try-again",
            status=503,
            headers={"Retry-After": "30"},
        )
    if isinstance(error, StoreUnavailable):
        return ApiError(
            f"{error}; nothing was done, try again shortly",
            problem="database-unavailable",
            status=503,
            headers={"Retry-After": "30"},
        )
    if isinstance(error, ConfigError):
        return ApiError(str(error), problem="server-misconfigured", status=500)
    return None


_STEP = re.compile(r"\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]|\.?([^.\[\]]+)")


def pointer_of(field: str) -> str:
    """The JSON Pointer (RFC 6901) into the request body for a field as postroom names it:
    ``to[2]`` is ``/to/2``, ``headers['X-Tag']`` is ``/headers/X-Tag``,
    ``attachments[1].filename`` is ``/attachments/1/filename``."""
    steps = []
    for index, quoted, double, name in _STEP.findall(field):
        step = index or quoted or double or name
        steps.append(step.replace("~", "~0").replace("/", "~1"))
    return "/" + "/".join(steps) if steps else ""
