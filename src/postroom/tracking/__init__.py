"""Tracking: signed tokens for each copy's pixel, click and unsubscribe URLs (pure, used by
compose's callers). ``docs/tracking.md`` describes the token format."""

from postroom.tracking.tokens import (
    ClickToken,
    OpenToken,
    Token,
    TokenCodec,
    TokenKind,
    UnsubscribeToken,
)

__all__ = ["ClickToken", "OpenToken", "Token", "TokenCodec", "TokenKind", "UnsubscribeToken"]
