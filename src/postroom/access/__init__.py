"""Who may use postroom over HTTP: API tokens with scopes (:mod:`.tokens`) for programs, and
operator users with passwords (:mod:`.users`) for the dashboard.

Both are kept in the database (``api_tokens``, ``operator_users``) and managed from the
command line (``postroom tokens ...``, ``postroom users ...``); neither a token nor a password
is ever stored, only what verifies it.
"""

from __future__ import annotations

from postroom.access.tokens import IssuedToken, Scope, TokenInfo, parse_scopes
from postroom.access.users import OperatorUser

__all__ = ["IssuedToken", "OperatorUser", "Scope", "TokenInfo", "parse_scopes"]
