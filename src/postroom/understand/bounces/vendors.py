"""Enhanced status codes that a vendor documents with a meaning of its own.

RFC 3463 and the IANA registry give each code one meaning (:mod:`.statuses`); Microsoft and
Google reuse some of them for others (BOUNCE-CODES.md sections C, D and J). Where the system
that answered is known to be theirs, its own table wins over the generic one, even for a code
that is otherwise precise: Microsoft's 5.2.2 "Submission quota exceeded" is the sender sending
too much, not a full mailbox; Google's 5.7.29 is a missing TLS, not an ARC failure.

Each row is (vendor, code, words the reply must hold or None, reason, source); a code with a
backslash in it is a pattern for a documented range ("5.7.700-749"). The vendor is
recognised by the remote host that answered, the reporting MTA, or the vendor's own signature
in the reply (Google ends every error with ``- gsmtp``; Exchange Online names its
``*.prod.outlook.com`` / ``*.protection.outlook.com`` hosts).
"""

from __future__ import annotations

from postroom.understand.lazyre import Pattern, lazy

VENDOR_CODES: tuple[tuple[str, str, str | None, str, str], ...] = (
    ("microsoft", "5.1.10", None, "userunknown", "MS-5110 RESOLVER.ADR.RecipientNotFound"),
    ("microsoft", "5.4.1", r"relay access denied", "norelaying", "MS-541"),
    (
        "microsoft",
        "5.4.1",
        r"recipient address rejected: access denied",
        "userunknown",
        "MS-DBEB (edge blocking)",
    ),
    ("microsoft", "5.7.504", None, "userunknown", "MS-NDR (judgement)"),
    ("microsoft", "5.7.505", None, "userunknown", "MS-NDR (judgement)"),
    ("microsoft", "5.2.2", r"submission quota", "speeding", "MS-NDR: the sender's quota"),
    ("microsoft", "5.1.90", None, "speeding", "MS-NDR: daily recipient limit"),
    ("microsoft", "5.2.121", None, "speeding", "MS-NDR: per-hour limit from one sender"),
    ("microsoft", "5.2.122", None, "speeding", "MS-NDR: per-hour limit from all senders"),
    ("microsoft", "4.3.2", r"thread limit", "speeding", "MS-NDR STOREDRV recipient thread limit"),
    ("microsoft", "4.7.650", None, "badreputation", "S775 (observed)"),
    ("microsoft", "4.7.651", None, "badreputation", "S3114 (observed)"),
    ("microsoft", "4.7.652", None, "toomanyconn", "S3115 (observed)"),
    ("microsoft", "5.7.508", None, "speeding", "MS-NDR: IPv6 range too fast"),
    ("microsoft", "5.7.509", None, "authfailure", "OLC-HV: DMARC"),
    ("microsoft", "5.7.515", None, "authfailure", "OLC-HV: authentication level"),
    ("microsoft", "5.7.25", None, "requireptr", "MS-NDR: IPv6 without reverse DNS"),
    (
        "microsoft",
        r"4\.7\.(?:5\d\d|6\d\d|8[5-9]\d)",
        None,
        "blocked",
        "MS-NDR: temporary restriction",
    ),
    ("microsoft", r"5\.7\.(?:60[6-9]|6[1-4]\d)", None, "blocked", "MS-NDR: banned sending IP"),
    ("microsoft", r"5\.7\.7[0-4]\d", None, "speeding", "MS-700 (judgement: blocked)"),
    ("microsoft", r"5\.7\.9\d\d", None, "policyviolation", "MS-EXS: mail-flow rule"),
    ("google", "5.2.1", r"inactive|disabled", "suspend", "G 550 5.2.1 (GS for-google.go)"),
    ("google", "5.2.1", r"too quickly|at a rate", "speeding", "G 550 5.2.1"),
    ("google", "4.2.1", r"too quickly|at a rate|peak smtp relay", "speeding", "G 450 4.2.1"),
    ("google", "5.1.2", None, "hostunknown", "G 553 5.1.2 recipient domain not found"),
    ("google", "5.4.5", None, "speeding", "G 550 5.4.5 daily sending limit"),
    ("google", "5.7.27", None, "authfailure", "G 550 5.7.27 SPF"),
    ("google", "4.7.27", None, "authfailure", "G 421 4.7.27 SPF"),
    ("google", "5.7.28", None, "blocked", "G 550 5.7.28 unusual rate"),
    ("google", "4.7.28", r"same message-id", "policyviolation", "G 421 4.7.28 Message-ID quota"),
    ("google", "4.7.28", None, "blocked", "G 421 4.7.28 unusual rate"),
    ("google", "5.7.29", None, "failedstarttls", "G 550 5.7.29 no TLS"),
    ("google", "4.7.29", None, "failedstarttls", "G 421 4.7.29 no TLS"),
    ("google", "5.7.30", None, "authfailure", "G 550 5.7.30 DKIM"),
    ("google", "4.7.30", None, "authfailure", "G 421 4.7.30 DKIM"),
    ("google", "5.7.32", None, "authfailure", "G 550 5.7.32 From alignment"),
    ("google", "5.7.40", None, "authfailure", "G 550 5.7.40 no DMARC record"),
)

_HOSTS: dict[str, tuple[str, ...]] = {
    "microsoft": (".outlook.com", ".hotmail.com", ".outlook.office365.com", ".live.com"),
    "google": (".google.com", ".googlemail.com", ".gmail.com"),
}
_SIGNATURES: dict[str, Pattern] = {
    "google": lazy(r"- gsmtp\b"),
    "microsoft": lazy(r"\.(?:prod|protection)\.outlook\.com\b"),
}
_BY_CODE: dict[str, list[tuple[str, Pattern | None, str]]] = {}
_RANGES: list[tuple[Pattern, str, Pattern | None, str]] = []
for _vendor, _code, _words, _reason, _source in VENDOR_CODES:
    _compiled = lazy(_words) if _words else None
    if "\\" in _code:
        _RANGES.append((lazy(_code), _vendor, _compiled, _reason))
    else:
        _BY_CODE.setdefault(_code, []).append((_vendor, _compiled, _reason))


# The rows of each status code met so far: the ranges' expressions run once per code. A code
# is "d.d.ddd" at most (statuses.STATUS), so the table stays small; a bound keeps it so.
_ROWS: dict[str, list[tuple[str, Pattern | None, str]]] = {}
_ROWS_KEPT = 4096


def _under(name: str | None, suffixes: tuple[str, ...]) -> bool:
    host = "." + (name or "").strip().strip(".").lower()
    return host != "." and host.endswith(suffixes)


def vendor_reason(
    status: str | None, text: str, remote_host: str | None, reporter: str
) -> str | None:
    """The reason a vendor's own code table gives ``status``, or None (see the module)."""
    if not status:
        return None
    rows = _ROWS.get(status)
    if rows is None:
        rows = _BY_CODE.get(status) or [
            (vendor, words, reason)
            for code, vendor, words, reason in _RANGES
            if code.fullmatch(status)
        ]
        if len(_ROWS) < _ROWS_KEPT:
            _ROWS[status] = rows
    if not rows:
        return None
    low = text[:3072].lower()
    for vendor, words, reason in rows:
        known = (
            _under(remote_host, _HOSTS[vendor])
            or _under(reporter, _HOSTS[vendor])
            or bool(_SIGNATURES[vendor].search(low))
        )
        if known and (words is None or words.search(low)):
            return reason
    return None
