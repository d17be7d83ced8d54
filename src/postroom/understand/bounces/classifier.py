"""``classify_message``: the decision, in order of how much a message proves about itself.

1. Complaints: an RFC 5965 feedback report, an SES complaint, an unsubscribe request.
   Then the structure (see :mod:`.structure`): a person's reply, forward or list post with no
   mark of a mail system is NORMAL, and only its own (unquoted) lines are read.
2. Read receipts (RFC 8098, see :mod:`.mdn`); a Sieve reject's MDN is a BOUNCE.
3. Reports: an RFC 3464 ``message/delivery-status`` part (or, from a mail system, its fields
   pasted into the text or a bounce it forwards), an SES bounce or delivery notification.
   All recipients delivered -> DELIVERED, else BOUNCE.
4. A mailing list manager's own error notice (see :mod:`.lists`): the list refused the post.
5. Automatic replies (RFC 3834 and vendor marks), unless the message also reads as a bounce:
   Exim marks its bounces ``Auto-Submitted: auto-replied`` too.
6. Bounces in an MTA's own words (see :mod:`.dialects`), when the sender, the subject or the text
   says "delivery failed".
7. Everything else is NORMAL mail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message

from postroom.understand.lazyre import lazy

from .arf import parse_feedback_report, returned_recipients
from .autoreply import automated, autoreply_headers, autoreply_subject, autoreply_text
from .dialects import (
    MAX_SCAN,
    TextRecipient,
    cut_returned,
    find_recipients,
    inline_returned,
    is_daemon,
)
from .dsn import parse_delivery_status
from .headers import all_addresses, decode_words, first_address, message_id
from .lists import list_notice_recipient
from .matching import PhraseIndex
from .mdn import parse_disposition
from .mime import Part, parse_entity
from .parts import Contents, collect, forwarded_report
from .providers import Origin
from .recipients import from_dsn, from_ses, from_text
from .ses import parse_ses_notification
from .structure import own_text, read_structure
from .types import Classification, MessageKind, RecipientResult

_BOUNCE_SUBJECT = lazy(
    r"undeliver|undelivered|delivery (?:status|failure|failed|problem|report|notification|error)"
    r"|returned (?:mail|message|to sender)|failure notice|mail delivery|could not be delivered"
    r"|delivery has failed|non[- ]?remis|unzustellbar|nicht zustellbar|system error|not delivered"
    r"|permanent (?:delivery )?(?:error|failure)|mail (?:system )?error|delivery notification"
    r"|\bbounce|error sending|rejected|warning: could not|\bndn\b|\bdsn\b|failed delivery"
    r"|message delayed|delayed mail|delivery delayed|mail failure|unable to deliver|returned"
    r"|no entregado|não entregue|不達|配信|エラー|user unknown|failed mail|nondeliverable"
    r"|non-?delivery|delivery warning|not (?:yet )?been delivered|(?:mail|message|delivery) failed"
    r"|returning (?:message )?to sender",
    re.IGNORECASE,
)
# Without a mail system's mark, the subject must name a failed delivery itself: a person's
# "Invoice rejected" or "Returned goods" is no notice.
_DELIVERY_SUBJECT = lazy(
    r"undeliver|delivery (?:status|failure|failed|problem|report|notification|error)"
    r"|returned (?:mail|message|to sender)|failure notice|mail delivery|could not be delivered"
    r"|delivery has failed|non[- ]?remis|unzustellbar|nicht zustellbar|not delivered"
    r"|permanent (?:delivery )?(?:error|failure)|failed delivery|delivery delayed|delayed mail"
    r"|non-?delivery|nondeliverable|(?:mail|message|delivery) failed|mail (?:system )?error"
    r"|returning (?:message )?to sender|不達|配信エラー|メールエラー",
    re.IGNORECASE,
)
# Wordings of a notice that says a delivery failed, matched on lower-cased text. Only whether
# one occurs counts, so each is its own expression behind a literal scan (see
# .matching.PhraseIndex): one alternation of them all is tried at every position of a notice.
_BOUNCE_WORDS: tuple[str, ...] = (
    r"could not be delivered",
    r"permanent(?:ly)? (?:error|fatal|fail)",
    r"following address(?:es|\(es\))? failed",
    r"delivery (?:to the following (?:recipients?|addresse?s?) )?(?:has )?failed",
    r"qmail-send program",
    r"undeliverable",
    r"unable to deliver",
    r"(?:was|were|has not been|could not be) (?:not )?delivered",
    r"did not reach",
    r"could not deliver",
    r"delivery (?:problem|error|failure)",
    r"user unknown",
    r"unknown user",
    r"no such user",
    r"mailbox (?:is )?(?:full|unavailable)",
    r"returned mail",
    r"error (?:has )?(?:occurred )?(?:while|during) (?:trying to |attempting to )?deliver",
    r"fatal errors?",
    r"failed addresses",
    r"no valid recipients",
    r"delivery attempts?",
    r"not (?:be )?delivered",
    r"temporar(?:y|ily) (?:failure|error|unable)",
    r"(?:smtp|remote) (?:error|server)",
    r"host .{1,80} said",
    r"did not like",
    r"rejected",
    r"giving up",
    r"message (?:was )?not (?:sent|accepted)",
    r"could not send",
    r"delivery status",
    r"no longer valid",
    r"(?:has|have) not (?:yet )?been delivered",
    r"been postponed",
    r"full mailbox",
)
_BOUNCE_TEXT = PhraseIndex({"failed": (("failed", _BOUNCE_WORDS),)})
# How much of a notice is read for those words.
_BOUNCE_TEXT_SCAN = 4000
_ORIGINAL_ID = lazy(r"^\s*message-id:\s*(.{1,300})$", re.IGNORECASE | re.MULTILINE)
_DSN_IN_TEXT = lazy(r"^[ \t>]*(?:final|original)-recipient\s*:", re.MULTILINE)


def classify_message(message: bytes | Message) -> Classification:
    """Classify one inbound message. Never raises: unreadable input is NORMAL with defects."""
    try:
        return _classify(_to_bytes(message))
    except Exception as exc:
        return Classification(MessageKind.NORMAL, defects=(f"unreadable: {type(exc).__name__}",))


def _to_bytes(message: bytes | Message) -> bytes:
    if isinstance(message, bytes | bytearray | memoryview):
        return bytes(message)
    try:
        return message.as_bytes()
    except Exception:
        return str(message).encode("utf-8", "surrogateescape")


def _classify(data: bytes) -> Classification:
    # LF and CRLF input must give identical results: normalise once, up front.
    data = data.replace(b"\r\n", b"\n")
    top = parse_entity(data)
    contents = collect(top)
    subject = decode_words(top.get("subject") or "")
    sender = first_address(top.get("from")) or ""
    own_id = message_id(top.get("message-id"))
    original_id = _original_message_id(contents, own_id)
    defects = tuple(contents.defects)

    complaint = _complaint(top, contents, sender)
    if complaint is not None:
        ftype, addresses = complaint
        recipients = tuple(RecipientResult(a, None, None, "feedback", False) for a in addresses)
        return Classification(MessageKind.COMPLAINT, recipients, original_id, ftype, defects)

    # Structure decides first (see .structure): what a person quoted, forwarded or attached
    # is never read as a report of their own.
    shape = read_structure(top, bool(contents.dsn), sender)
    full = "\n".join(contents.texts)
    notice = cut_returned(full)
    if contents.mdn and (shape.machine or not shape.person):
        receipt = _disposition(contents, notice, original_id, defects)
        if receipt is not None:
            return receipt
    dsn_text = "\n".join(contents.dsn)
    low = notice.lower()
    if not dsn_text and shape.machine:
        dsn_text = "\n".join(_forwarded_report(contents.returned))
        if not dsn_text and "-recipient" in low and _DSN_IN_TEXT.search(low):
            dsn_text = notice  # RFC 3464 fields pasted into the notice
        elif (
            not dsn_text
            and "-recipient" in (rest := full[len(notice) : MAX_SCAN].lower())
            and _DSN_IN_TEXT.search(rest)
        ):
            # A whole bounce forwarded inline as text by a mail system, which cut_returned
            # took for the returned message: its fields still name the failure.
            dsn_text = full[:MAX_SCAN]
    report = parse_delivery_status(dsn_text) if dsn_text else None
    origin = Origin.of(report.reporting_mta if report else None, sender, top.get("x-mailer"))
    if report is not None and report.recipients:
        found = from_dsn(report, notice, origin)
        if found:
            return _report(found, original_id, defects)

    ses = parse_ses_notification(full) if "notificationType" in full else None
    if ses is not None and ses.kind in ("bounce", "delivery") and ses.recipients:
        return _report(from_ses(ses), original_id or ses.message_id, defects)

    listed = list_notice_recipient(top, notice)
    if listed is not None:
        # A list manager's own error notice: the list refused the post (see .lists).
        results = from_text([TextRecipient(listed, notice, None)], notice, [], None)
        return Classification(MessageKind.BOUNCE, tuple(results), original_id, None, defects)

    failed_header = all_addresses(top.get("x-failed-recipients"))
    if not shape.machine:
        # Only the person's own lines count, never what they quoted or forwarded.
        notice = own_text(notice)
        low = notice.lower()
    bounce_subject = not shape.forward and bool(
        (_BOUNCE_SUBJECT if shape.machine else _DELIVERY_SUBJECT).search(subject)
    )
    opening = low[:_BOUNCE_TEXT_SCAN]
    bounce_text = _BOUNCE_TEXT.first("failed", opening, _BOUNCE_TEXT.scan(opening)) is not None
    daemon = shape.machine and (
        is_daemon(sender) or "mail delivery" in (top.get("from") or "").lower()
    )
    if (
        not bounce_subject
        and not failed_header
        and (
            autoreply_subject(subject) or (autoreply_headers(top) and not (daemon and bounce_text))
        )
    ):
        return _auto_reply(sender, original_id, defects, top)

    # A mail system returning a message (RFC 3462 / RFC 6522 returned content) is a bounce.
    returns = daemon and contents.returned is not None
    looks_bounce = not (shape.person and not shape.machine) and (
        bool(failed_header)
        or returns
        or (
            (bounce_subject or daemon or "report" in (top.get("content-type") or "").lower())
            and (bounce_text or (bounce_subject and daemon))
        )
    )
    if looks_bounce:
        # The bounce's addressee is the original sender: a recipient only if nobody else is.
        exclude = _excluded(top, contents)
        addressee = frozenset(all_addresses(top.get("to"))) - {sender}
        found_text = find_recipients(notice, exclude - addressee, addressee)
        returned = contents.returned
        if returned is None and not found_text and not failed_header:
            returned = inline_returned(full[len(notice) :])
        results = from_text(found_text, notice, failed_header, returned, report, origin)
        return Classification(MessageKind.BOUNCE, tuple(results), original_id, None, defects)
    if autoreply_text(notice) and (
        automated(top)
        or (not shape.person and not top.get("in-reply-to") and not top.get("references"))
    ):
        return _auto_reply(sender, original_id, defects, top)
    return Classification(MessageKind.NORMAL, (), original_id, None, defects)


def _disposition(
    contents: Contents, notice: str, original_id: str | None, defects: tuple[str, ...]
) -> Classification | None:
    """An RFC 8098 MDN: a read receipt, or a Sieve reject's refusal (see .mdn)."""
    found = parse_disposition(contents.mdn[0])
    if found is None:
        return None
    address = found.final_recipient or found.original_recipient
    original_id = found.original_message_id or original_id
    if found.is_refusal and address:
        # RFC 5429 section 2.1: the recipient's own filter refused the message after it
        # arrived; the human-readable part holds the reason it gave.
        text = " ".join(notice.split())[:1000] or None
        refused = RecipientResult(
            address, "failed", "5.7.1", "filtered", False, text, None, None, True
        )
        return Classification(MessageKind.BOUNCE, (refused,), original_id, None, defects)
    recipients = (
        (RecipientResult(address, None, None, found.type, False, found.reporting_ua),)
        if address
        else ()
    )
    return Classification(MessageKind.READ_RECEIPT, recipients, original_id, found.type, defects)


def _forwarded_report(returned: Part | None) -> list[str]:
    """The report parts of a returned message that is itself a bounce (RFC 3462 report)."""
    if returned is None or not returned.ctype.startswith("multipart/report"):
        return []
    return forwarded_report(returned)


def _report(
    found: list[RecipientResult], original_id: str | None, defects: tuple[str, ...]
) -> Classification:
    """BOUNCE unless every recipient was delivered (RFC 3464 section 2.3.3 action values)."""
    delivered = all(r.action in ("delivered", "relayed", "expanded") for r in found)
    if delivered:
        return Classification(MessageKind.DELIVERED, tuple(found), original_id, None, defects)
    failed = tuple(r for r in found if r.action not in ("delivered", "relayed", "expanded"))
    return Classification(MessageKind.BOUNCE, failed, original_id, None, defects)


def _auto_reply(
    sender: str, original_id: str | None, defects: tuple[str, ...], top: Part
) -> Classification:
    """An automatic reply; RFC 3834 section 3.1.4 has it name the message it answers in
    In-Reply-To, which stands for the returned copy when there is none."""
    original_id = original_id or message_id(top.get("in-reply-to"))
    recipients = (RecipientResult(sender, None, None, "vacation", False),) if sender else ()
    return Classification(MessageKind.AUTO_REPLY, recipients, original_id, None, defects)


def _complaint(top: Part, contents: Contents, sender: str) -> tuple[str, list[str]] | None:
    """A complaint's feedback type and complained-about recipients, or None."""
    if contents.feedback:
        fb = parse_feedback_report(contents.feedback[0], contents.returned)
        return fb.feedback_type, fb.recipients
    notice = "\n".join(contents.texts)
    if "notificationType" in notice:
        ses = parse_ses_notification(notice)
        if ses is not None and ses.kind == "complaint":
            return ses.feedback_type or "abuse", [r.address for r in ses.recipients]
    if (top.get("x-apple-unsubscribe") or "").strip().lower() == "true":
        # Apple Mail's one-click unsubscribe request: an opt-out by the sender of this message.
        return "opt-out", [sender] if sender else []
    returned = contents.returned
    if returned is not None and returned.get("x-hmxmroriginalrecipient") is not None:
        # Microsoft JMRP: the complained-about copy comes back with its original recipient.
        return "abuse", returned_recipients(returned)
    return None


def _excluded(top: Part, contents: Contents) -> set[str]:
    """Addresses that name the bounce's own parties or the original sender, never a recipient."""
    out: set[str] = set()
    # Not Delivered-To / X-Original-To: some MTAs copy the failed recipient there.
    for name in ("from", "to", "return-path", "reply-to", "sender"):
        out.update(all_addresses(top.get(name)))
    returned = contents.returned
    if returned is not None:
        for name in ("from", "return-path", "sender", "reply-to"):
            out.update(all_addresses(returned.get(name)))
    return out


def _original_message_id(contents: Contents, own_id: str | None) -> str | None:
    """The Message-ID of the returned copy: its headers, else a Message-ID line in the text."""
    if contents.returned is not None:
        found = message_id(contents.returned.get("message-id"))
        if found:
            return found
    for text in contents.texts:
        low = text.lower()
        if "message-id" not in low:
            continue  # the pattern would be tried at every line start for nothing
        for value in _message_id_lines(text, low):
            found = message_id(value)
            if found and found != own_id:
                return found
    return None


def _message_id_lines(text: str, low: str) -> Iterator[str]:
    """What ``_ORIGINAL_ID.finditer(text)`` finds, in order; ``low`` is ``text.lower()``.

    In US-ASCII text (where ``low`` keeps every index) only the lines where ``message-id:``
    follows nothing but white space are tried, rather than the pattern at every position.
    """
    if not text.isascii():
        yield from (m.group(1) for m in _ORIGINAL_ID.finditer(text))
        return
    resume = 0  # where the last match ended, as finditer resumes there
    at = low.find("message-id:")
    while at >= 0:
        start = low.rfind("\n", 0, at) + 1
        if at >= resume and (start == at or low[start:at].isspace()):
            m = _ORIGINAL_ID.match(text, start)
            if m is not None:
                yield m.group(1)
                resume = m.end()
        at = low.find("message-id:", at + 1)
