"""Bearer tokens on every route that needs one (RFC 6750 section 2.1: the ``Authorization``
header, scheme compared without case, RFC 9110 section 11.1).

Tokens come in the header only. Not from a cookie, so no other site's page can make a
browser send one (the API needs no CSRF defence: a cross-site form cannot set the header);
not from the query string (RFC 6750 section 2.3 advises against it: URLs end up in logs and
``Referer`` headers). Refusals carry ``WWW-Authenticate`` as RFC 6750 section 3 describes:
no error code when no token came, ``invalid_token`` for an unknown, revoked or expired one,
``insufficient_scope`` (with 403) when the token lacks the route's scope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from postroom.access.tokens import Scope, TokenInfo, TokenRefusal, check_token, grants
from postroom.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from postroom.app import Postroom

REALM = 'Bearer realm="postroom"'
_HOW = "send 'Authorization: Bearer <token>'; an operator makes one with `postroom tokens create"


def _challenge(error: str, description: str, scope: str | None = None) -> dict[str, str]:
    value = f'{REALM}, error="{error}", error_description="{description}"'
    if scope:
        value += f', scope="{scope}"'
    return {"WWW-Authenticate": value}


_REFUSALS = {
    TokenRefusal.MALFORMED: "the bearer token is not a postroom token (postroom_<id>_<secret>)",
    TokenRefusal.UNKNOWN: "the bearer token is not known here (mistyped, or for another postroom)",
    TokenRefusal.REVOKED: "the bearer token was revoked",
    TokenRefusal.EXPIRED: "the bearer token has expired",
}


def authenticate(room: Postroom, request: Request, needed: Scope | None) -> TokenInfo | None:
    """The token of ``request`` when it may use a route that needs ``needed`` (None: a
    public route, no token looked at); raises Unauthorized or Forbidden otherwise."""
    if needed is None:
        return None
    header = request.headers.get("authorization")
    if header is None:
        raise Unauthorized(
            f"this route needs a bearer token with the {needed} scope: {_HOW} NAME --scope "
            f"{needed}`",
            headers={"WWW-Authenticate": REALM},
        )
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthorized(
            f"the Authorization header is not a bearer token: {_HOW} NAME --scope {needed}`",
            headers=_challenge("invalid_request", "use the Bearer scheme"),
        )
    check = check_token(room.database, credentials.strip(), now=room.clock())
    if check.refusal is not None or check.info is None:
        refusal = check.refusal or TokenRefusal.UNKNOWN
        reason = _REFUSALS[refusal]
        raise Unauthorized(
            f"{reason}: {_HOW} NAME --scope {needed}`",
            headers=_challenge("invalid_token", reason.split(" (")[0]),
        )
    info = check.info
    if not grants(info.scopes, needed):
        have = " ".join(sorted(info.scopes))
        raise Forbidden(
            f"this route needs the {needed} scope and token {info.name!r} has {have}: use a "
            f"token with {needed} (or admin)",
            headers=_challenge("insufficient_scope", f"needs {needed}", scope=str(needed)),
        )
    return info
