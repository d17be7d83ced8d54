"""Sending: SMTP delivery through each sender's own account, and the tokens its logins need.

A sans-IO pipelining client (protocol, pipeline), its socket shell (connection), the sorting of
every server answer (replies), OAuth 2.0 token refresh (oauth). See docs/outbound.md."""

from postroom.outbound.capabilities import Capabilities, parse_capabilities
from postroom.outbound.connection import SmtpConnection
from postroom.outbound.replies import ReplyClass, ReplyKind, classify_reply, classify_result
from postroom.outbound.types import (
    AuthMethod,
    Command,
    ConnectionSettings,
    CopyResult,
    EnhancedStatus,
    Outcome,
    OutgoingCopy,
    Reply,
    Security,
    Timeouts,
)

__all__ = [
    "AuthMethod",
    "Capabilities",
    "Command",
    "ConnectionSettings",
    "CopyResult",
    "EnhancedStatus",
    "Outcome",
    "OutgoingCopy",
    "Reply",
    "ReplyClass",
    "ReplyKind",
    "Security",
    "SmtpConnection",
    "Timeouts",
    "classify_reply",
    "classify_result",
    "parse_capabilities",
]
