"""What one mail system's replies mean where the same words mean different things elsewhere.

Some systems answer every refusal with one phrase and put the meaning in its form, its code or
its stage; some write their own notices in a fixed vocabulary. Each rule here is keyed on the
system (the remote host that answered, the recipient's domain, or the notice's reporter) and
encodes what its documented or observed format means. Such a rule decides before the general
reading of :mod:`.reasons`, as it knows more; where it says nothing (``None``), the general
reading stands.

- **KDDI au** (``ezweb.ne.jp``, ``au.com``) answers "User unknown" both for a mailbox it does
  not have and for a recipient's own refusal settings. The form tells them apart: the mailbox
  answer names it (``550 <a@ezweb.ne.jp>: User unknown``); the filter's names nobody
  (``550 : User unknown``).
- **NTT docomo** answers "550 Unknown user" to everything it refuses. Its RFC 3463 code tells
  what: X.1.1 the address, X.2.0 the recipient's reception settings; after DATA under a
  generic code it refuses the sending domain or host (``rejected``). "552 Too much mail data"
  is its full mailbox.
- **Yahoo** (``yahoodns.net``): "[TSS04] ... temporarily deferred due to unexpected volume or
  user complaints" is its verdict on the sender, whatever its reputation (``rejected``).
- **Outlook.com / Hotmail** reporting its own mailbox: RFC 5321's "Requested action not taken:
  mailbox unavailable" is its unknown-mailbox answer.
- **GMX, web.de, 1&1/IONOS** send no enhanced codes; their "550 Requested action not taken:
  mailbox unavailable" means the recipient does not exist (their postmaster pages, [UI]).
- **QQ** (``qq.com``): "550 Mailbox unavailable or access denied" is its answer to a recipient
  getting mail too fast, not an unknown one (service.mail.qq.com/detail/122, [QQ]).
- **IMail** (``X-Mailer: <SMTP32 ...>``) writes its own notices as "<verdict>: <address>" in a
  fixed vocabulary ("Unknown user", "Invalid final delivery userid", "User mailbox exceeds
  allowed size").
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.understand.lazyre import lazy


@dataclass(frozen=True, slots=True)
class Origin:
    """Who wrote a bounce: its ``Reporting-MTA`` (else its sender's domain) and ``X-Mailer``."""

    reporter: str = ""
    mailer: str = ""

    @classmethod
    def of(cls, reporting_mta: str | None, sender: str, mailer: str | None) -> Origin:
        reporter = (reporting_mta or sender.rpartition("@")[2]).strip().lower()
        return cls(reporter.rpartition(";")[2].strip(), (mailer or "").strip().lower())


NOWHERE = Origin()

_KDDI = (".ezweb.ne.jp", ".au.com")
_KDDI_NAMED = lazy(r">:? ?user unknown")  # "550 <a@ezweb.ne.jp>: User unknown"
_KDDI_FILTER = lazy(r"\b[45][0-9][0-9] ?: ?user unknown")  # "550 : User unknown"

_DOCOMO = (".docomo.ne.jp",)
_YAHOO = (".yahoodns.net",)
_HOTMAIL = (".hotmail.com", ".outlook.com")
_UNITED_INTERNET = (".gmx.net", ".gmx.com", ".gmx.de", ".web.de", ".1and1.com", ".ionos.com")
_QQ = (".qq.com",)

# IMail's own notice lines, "<verdict>: <address>" (its vocabulary, in its order of lines).
_IMAIL = lazy(
    r"\b(unknown user|invalid final delivery userid|user mailbox exceeds allowed size"
    r"|unknown host) ?:"
)
_IMAIL_REASONS = {
    "unknown user": "userunknown",
    "invalid final delivery userid": "userunknown",
    "user mailbox exceeds allowed size": "mailboxfull",
    "unknown host": "hostunknown",
}


# Every suffix above: a recipient none of whose names ends in one has no rule here.
_ANY = _KDDI + _DOCOMO + _YAHOO + _UNITED_INTERNET + _QQ


def _dotted(name: str) -> str:
    """A host or domain name as ``.name``, lower-cased: what ends with a suffix above if it is
    that suffix's domain or under it."""
    return "." + name.strip().strip(".").lower()


def _at(name: str, suffixes: tuple[str, ...]) -> bool:
    """Whether a host or domain name is one of ``suffixes``' domains or under one."""
    return _dotted(name).endswith(suffixes)


def provider_reason(
    origin: Origin,
    address: str,
    host: str | None,
    text: str,
    status: str | None,
    command: str | None,
) -> str | None:
    """The reason a provider's own format names for one recipient, or None (see the module).

    ``text`` is the recipient's diagnostic or notice lines, with addresses kept (KDDI's form
    is in them); ``host`` the remote MTA; ``command`` as :func:`.matching.find_command` gives
    it. Only a recipient of one of these systems has its text read (and lower-cased).
    """
    domain = _dotted(address.rpartition("@")[2])
    remote = _dotted(host) if host else ""
    hotmail = bool(origin.reporter) and command is None and _at(origin.reporter, _HOTMAIL)
    imail = origin.mailer.startswith("<smtp32 ")
    if not (hotmail or imail or domain.endswith(_ANY) or remote.endswith(_ANY)):
        return None  # the common case, told by two suffix tests
    kddi = domain.endswith(_KDDI) or remote.endswith(_KDDI)
    docomo = domain.endswith(_DOCOMO) or remote.endswith(_DOCOMO)
    yahoo = remote.endswith(_YAHOO)
    united = remote.endswith(_UNITED_INTERNET) or domain.endswith(_UNITED_INTERNET)
    qq = remote.endswith(_QQ) or domain.endswith(_QQ)
    low = text[:3072].lower()
    if kddi and "user unknown" in low:
        if _KDDI_NAMED.search(low):
            return "userunknown"
        if _KDDI_FILTER.search(low):
            return "filtered"
    if docomo and "too much mail data" in low:
        return "mailboxfull"  # docomo's answer for a full mailbox
    if docomo and "unknown user" in low:
        if status is not None and status[1:] == ".1.1":
            return "userunknown"
        if status is not None and status[1:] == ".2.0":
            return "filtered"
        if command == "data":
            return "rejected"
    if yahoo and "unexpected volume or user complaints" in low:
        return "rejected"
    if (hotmail or united) and "requested action not taken: mailbox unavailable" in low:
        return "userunknown"
    if qq and "mailbox unavailable or access denied" in low:
        return "speeding"
    if imail:
        m = _IMAIL.search(low)
        if m is not None:
            return _IMAIL_REASONS[m.group(1)]
    return None
