"""RFC 5965 Abuse Reporting Format complaints, and the vendor complaint shapes seen in the wild.

A report is ``multipart/report; report-type=feedback-report`` with a ``message/feedback-report``
part (section 3.1). The complained-about recipients are ``Original-Rcpt-To`` (section 3.2), else
``Removal-Recipient`` (older opt-out reports), else the recipient of the returned message.
"""

from __future__ import annotations

from dataclasses import dataclass

from .headers import all_addresses, clean_address, first_address
from .mime import Part, parse_fields


@dataclass(slots=True)
class Feedback:
    """What a complaint report says: its type and who complained."""

    feedback_type: str
    recipients: list[str]


def parse_feedback_report(report: str, returned: Part | None) -> Feedback:
    """Read the ``message/feedback-report`` fields (RFC 5965 section 3.1 and 3.2)."""
    fields = parse_fields(report.replace("\r", ""))
    ftype = "abuse"
    recipients: list[str] = []
    removal: list[str] = []
    for name, value in fields:
        if name == "feedback-type" and value.split():
            ftype = value.split()[0].lower()
        elif name == "original-rcpt-to":
            address = clean_address(value)
            if address and address not in recipients:
                recipients.append(address)
        elif name == "removal-recipient":
            removal.extend(a for a in all_addresses(value) if a not in removal)
    if not recipients:
        recipients = removal
    if not recipients and returned is not None:
        recipients = returned_recipients(returned)
    return Feedback(ftype, recipients)


def returned_recipients(returned: Part) -> list[str]:
    """The recipient of a returned message: a provider's original-recipient field, else To."""
    for name in ("x-hmxmroriginalrecipient", "to", "x-original-to"):
        address = first_address(returned.get(name))
        if address:
            return [address]
    return []
