"""The same copy built afresh with the standard library: the reference the splice is held to.

The property test compares what the two decode to; ``bench/compose.py`` times the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from email import policy
from email.headerregistry import Address as StdAddress
from email.message import EmailMessage

from postroom.compose import Addressee, Attachment, Inline, Mailbox, Role, Template


def _std(name: str | None, address: str) -> StdAddress:
    return StdAddress(display_name=name or "", addr_spec=address)


def stdlib_copy(
    template: Template,
    *,
    sender: Mailbox,
    subject: str,
    date: datetime,
    message_id: str,
    text: str,
    html: str | None,
    inline: Sequence[Inline] = (),
    attachments: Sequence[Attachment] = (),
    headers: Mapping[str, str] | None = None,
    copy_headers: Mapping[str, str] | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    notification: bool = False,
) -> bytes:
    """An EmailMessage with the given (already personalised) bodies, serialised with
    ``policy.SMTP``. Recipients come from the template, whose domains are in A-labels."""
    utf8 = template.needs_smtputf8
    msg = EmailMessage(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
    msg["From"] = _std(sender.name, sender.address)

    def listed(role: Role) -> list[Addressee]:
        return [item for item in template.recipients if item.role is role]

    if listed(Role.TO):
        msg["To"] = [_std(item.name, str(item.address)) for item in listed(Role.TO)]
    if listed(Role.CC):
        msg["Cc"] = [_std(item.name, str(item.address)) for item in listed(Role.CC)]
    if not listed(Role.TO) and not listed(Role.CC):
        msg["To"] = "undisclosed-recipients:;"
    msg["Date"] = date
    msg["Subject"] = subject
    msg["MIME-Version"] = "1.0"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        msg[name] = value
    msg["X-Postroom-Email"] = template.email_token
    if notification:
        msg["Auto-Submitted"] = "auto-generated"
    msg["Message-ID"] = f"<{message_id}>"
    for name, value in (copy_headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
        if inline:
            html_part = msg.get_payload()[1]
            assert isinstance(html_part, EmailMessage)
            for item in inline:
                maintype, subtype = item.content_type.split("/")
                html_part.add_related(
                    item.content,
                    maintype,
                    subtype,
                    cid=f"<{item.cid}>",
                    filename=item.filename,
                    disposition="inline",
                )
    for attachment in attachments:
        maintype, subtype = attachment.content_type.split("/")
        msg.add_attachment(attachment.content, maintype, subtype, filename=attachment.filename)
    return msg.as_bytes()
