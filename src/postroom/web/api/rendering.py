"""How the API writes its answers: JSON that stays data whatever the mail in it says, the
problem documents of RFC 9457, and the headers every answer carries.

Text that came from mail (subjects, addresses, bodies, SMTP replies) reaches clients inside
JSON strings only. The JSON is written ASCII-only with ``<``, ``>`` and ``&`` escaped too
(``\\u003c``...): a ``</script>`` in a subject cannot end a script block a client embeds
the JSON in, RTL overrides and other invisible characters show as escapes in any raw view,
and nothing in the body can be read as markup even by a client that ignores the Content-Type.
Every answer says ``X-Content-Type-Options: nosniff``, and a Content-Security-Policy that
lets nothing load or run in case a browser renders one anyway.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from postroom.errors import ApiError
from postroom.web.api.problems import BY_SLUG, type_uri

PROBLEM_JSON = "application/problem+json"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def json_bytes(value: Any) -> bytes:
    """``value`` as JSON that is safe to embed and to show (see the module docstring)."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    # Outside strings JSON has no <, > or &, so replacing them everywhere only changes
    # string contents, into escapes that decode to the same characters.
    return text.translate(_ESCAPES).encode("ascii")


def json_response(
    value: Any,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    media_type: str = "application/json",
) -> Response:
    return Response(
        json_bytes(value),
        status_code=status,
        headers={**SECURITY_HEADERS, **(headers or {})},
        media_type=media_type,
    )


def problem_document(error: ApiError, instance: str) -> dict[str, Any]:
    kind = BY_SLUG.get(error.problem)
    body: dict[str, Any] = {
        "type": type_uri(error.problem) if kind else "about:blank",
        "title": kind.title if kind else "Error",
        "status": error.status,
        "detail": error.detail,
        "instance": instance,
    }
    if error.field is not None:
        body["field"] = error.field
    if error.errors:
        body["errors"] = list(error.errors)
    return body


def problem_response(error: ApiError, instance: str) -> Response:
    return json_response(
        problem_document(error, instance),
        status=error.status,
        headers=error.headers,
        media_type=PROBLEM_JSON,
    )
