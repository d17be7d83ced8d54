"""Providers' documented SMTP settings and sending limits, offered by ``postroom accounts add
--preset``. Each row cites the page the numbers come from; an operator can override any of
them. Limits are per sending mailbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.accounts.model import Auth, Envelope, Limits, Security


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    smtp_host: str
    smtp_port: int
    smtp_security: Security
    smtp_auth: Auth
    imap_host: str | None
    imap_port: int | None
    envelope: Envelope
    limits: Limits
    source: str


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            # Gmail rewrites the envelope sender to the authenticated account, so VERP
            # return paths do not survive and bounces land in the sender's inbox.
            "gmail",
            "smtp.gmail.com",
            587,
            Security.STARTTLS,
            Auth.XOAUTH2,
            "imap.gmail.com",
            993,
            Envelope.ACCOUNT,
            Limits(per_day=500, recipients_per_day=500, connections=2),
            "support.google.com/mail/answer/22839 (Gmail sending limits: 500 recipients a day)",
        ),
        Preset(
            # postroom's own local mail catcher (docs/catcher.md): it keeps every copy and
            # delivers none, so an application can send before a real account is set up.
            # VERP return paths survive it, so its bounces name their copy.
            "catcher",
            "127.0.0.1",
            2525,
            Security.NONE,
            Auth.NONE,
            None,
            None,
            Envelope.VERP,
            Limits(connections=2),
            "docs/catcher.md (the local mail catcher: loopback, no login, no limits)",
        ),
        Preset(
            "google-workspace",
            "smtp.gmail.com",
            587,
            Security.STARTTLS,
            Auth.XOAUTH2,
            "imap.gmail.com",
            993,
            Envelope.ACCOUNT,
            Limits(per_day=2000, recipients_per_day=10000, connections=2),
            "support.google.com/a/answer/166852 (Gmail sending limits in Google Workspace: "
            "2,000 messages a day, 10,000 recipients a day)",
        ),
        Preset(
            # Exchange Online also forces the envelope sender to the mailbox.
            "microsoft365",
            "smtp.office365.com",
            587,
            Security.STARTTLS,
            Auth.XOAUTH2,
            "outlook.office365.com",
            993,
            Envelope.ACCOUNT,
            Limits(per_minute=30, per_day=10000, recipients_per_day=10000, connections=3),
            "learn.microsoft.com/office365/servicedescriptions/exchange-online-service-"
            "description/exchange-online-limits#sending-limits-1 (30 messages a minute, 10,000 "
            "recipients a day); learn.microsoft.com/exchange/troubleshoot/send-emails/smtp-"
            "submission-limits (3 concurrent connections)",
        ),
    )
}
