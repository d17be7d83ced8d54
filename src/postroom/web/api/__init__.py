"""The HTTP API (JSON over HTTP, bearer tokens with scopes, RFC 9457 problem details, OpenAPI
3.1 at ``/api/openapi.json``): ``build_api(room)`` is the ASGI app to mount at ``/api``.

See docs/api.md for every endpoint with an example.
"""

from __future__ import annotations

from postroom.web.api.app import build_api, endpoints

__all__ = ["build_api", "endpoints"]
