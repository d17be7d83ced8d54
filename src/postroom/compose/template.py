"""The template of one email: its MIME built once, spliced into one copy per recipient.

:func:`build_template` checks the :class:`Email`, writes the visible header block (the same
bytes in every copy), scans the text and HTML bodies for the places that change per copy, and
lays the MIME tree out as static chunks with two body slots (:mod:`postroom.compose.mime`).
:meth:`Template.personalise` then makes a copy by writing that copy's header fields, filling
the slots of the one or two text bodies, encoding those bodies, and joining the chunks. No copy
re-serialises the message: attachments are encoded once, boundaries are chosen once.

A copy is ready for SMTP DATA: CRLF line ends, no line over 998 octets (RFC 5322 §2.1.1); the
SMTP layer does the dot-stuffing (RFC 5321 §4.5.2).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from types import MappingProxyType

from postroom.compose import headers
from postroom.compose.addressing import Addressee, Mailbox, Role, parse_address
from postroom.compose.email import Email
from postroom.compose.htmltext import html_to_text
from postroom.compose.links import (
    LinkTable,
    Program,
    SlotKind,
    normalise_newlines,
    scan_html,
    scan_text,
)
from postroom.compose.mime import BodySlot, Layout, build_layout, text_part
from postroom.compose.validate import CheckedEmail, check_copy_headers, check_email
from postroom.errors import ComposeError

_URL = re.compile(r"https?://[!-~]+", re.IGNORECASE)
_MAILTO = re.compile(r"mailto:[!-~]+", re.IGNORECASE)
_URL_FORBIDDEN = frozenset('<>"')
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ComposeOptions:
    """Choices about how an email is written that are not part of the email itself.

    ``unsubscribe_label`` is the text of the footer link bulk mail gets when its body has no
    ``postroom:unsubscribe`` placeholder.
    """

    unsubscribe_label: str = "Unsubscribe"


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """A copy's two unsubscribe URIs: RFC 2369 §3.2 ``List-Unsubscribe``, and the https one
    that RFC 8058 one-click POSTs go to, also shown in the body."""

    mailto: str
    https: str


@dataclass(frozen=True, slots=True)
class CopyValues:
    """What differs in one copy.

    ``message_id`` without angle brackets; ``reply_to`` the copy's signed reply address;
    ``pixel_url`` the open pixel; ``click_urls`` aligned with ``Template.links`` (None leaves
    links as written); ``unsubscribe`` the copy's unsubscribe URIs; ``extra_headers`` more
    header fields for this copy, checked like ``Email.headers``.
    """

    message_id: str
    reply_to: str | None = None
    pixel_url: str | None = None
    click_urls: Sequence[str] | None = None
    unsubscribe: Unsubscribe | None = None
    extra_headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)


def pixel_html(url: str) -> str:
    """The open pixel appended at the end of each copy's HTML body."""
    return (
        f'<img src="{html_lib.escape(url)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0">'
    )


def footer_html(url: str, label: str) -> str:
    """The unsubscribe line bulk HTML gets when the author placed no placeholder."""
    return (
        '<p style="font-size:12px;color:#666666">'
        f'<a href="{html_lib.escape(url)}">{html_lib.escape(label)}</a></p>'
    )


def footer_text(url: str, label: str) -> str:
    """The unsubscribe line bulk text gets when the author placed no placeholder."""
    return f"\n{label}: {url}\n"


def _check_url(value: str, field: str, pattern: re.Pattern[str] = _URL) -> str:
    if (
        not isinstance(value, str)
        or not pattern.fullmatch(value)
        or not _URL_FORBIDDEN.isdisjoint(value)
        or len(value) > 900
    ):
        kind = "mailto:" if pattern is _MAILTO else "http(s)"
        raise ComposeError(
            field,
            f"{value!r} is not an absolute {kind} URL",
            "give printable ASCII without spaces, quotes or angle brackets, "
            "at most 900 characters (percent-encode the rest, RFC 3986 §2.1)",
        )
    return value


@dataclass(frozen=True, eq=True)
class Template:
    """One email ready to be personalised per recipient. Make it with :func:`build_template`,
    store it with :meth:`to_bytes`, load it with :meth:`from_bytes`."""

    email_token: str
    needs_smtputf8: bool
    links: tuple[str, ...]
    visible_headers: bytes
    layout: Layout
    text: Program
    html: Program | None
    recipients: tuple[Addressee, ...]
    duplicates: tuple[Addressee, ...]
    bulk: bool
    tracks_opens: bool
    replies_to_handler: bool
    unsubscribe_label: str
    size_estimate: int = 0

    # -- reading ----------------------------------------------------------------------------

    @property
    def has_html(self) -> bool:
        return self.html is not None

    @property
    def needs_unsubscribe(self) -> bool:
        """Whether every copy must be given :class:`Unsubscribe` URIs."""
        return (
            self.bulk
            or self.text.has_placeholder
            or (self.html is not None and self.html.has_placeholder)
        )

    def to_bytes(self) -> bytes:
        """The template in its stored form (see :mod:`postroom.compose.stored`)."""
        from postroom.compose.stored import dump

        return dump(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Template:
        """A template stored with :meth:`to_bytes`, of this format version or an older one."""
        from postroom.compose.stored import load

        return load(data)

    # -- copies -----------------------------------------------------------------------------

    def personalise(self, values: CopyValues) -> bytes:
        """One recipient's copy, ready for SMTP DATA."""
        click_urls = values.click_urls
        if click_urls is not None:
            if len(click_urls) != len(self.links):
                raise ComposeError(
                    "click_urls",
                    f"{len(click_urls)} URLs for {len(self.links)} links",
                    "give one click URL per entry of template.links, in order",
                )
            for position, url in enumerate(click_urls):
                _check_url(url, f"click_urls[{position}]")
        unsubscribe = values.unsubscribe
        if unsubscribe is not None:
            _check_url(unsubscribe.https, "unsubscribe.https")
            _check_url(unsubscribe.mailto, "unsubscribe.mailto", _MAILTO)
        elif self.needs_unsubscribe:
            raise ComposeError(
                "unsubscribe",
                "this email is bulk or has an unsubscribe "
                "placeholder, and this copy has no unsubscribe URIs",
                "give CopyValues(unsubscribe=Unsubscribe(mailto=..., https=...))",
            )
        if values.pixel_url is not None:
            if not self.tracks_opens:
                raise ComposeError(
                    "pixel_url",
                    "this email does not track opens (no HTML part, or Track(opens=False))",
                    "leave pixel_url out for this email",
                )
            _check_url(values.pixel_url, "pixel_url")
        if self.replies_to_handler and values.reply_to is None:
            raise ComposeError(
                "reply_to",
                "replies to this email go to a handler, and this copy has no reply address",
                "give the copy's signed reply address as reply_to",
            )
        return self._join(
            self._copy_headers(values, unsubscribe),
            self._text(click_urls, unsubscribe),
            self._html(click_urls, unsubscribe, values.pixel_url),
        )

    def clean_copy(self, message_id: str) -> bytes:
        """The sender's own version for the Sent folder: the same visible header fields, the
        links and placeholders as written, no pixel, no footer, no Reply-To, no
        List-Unsubscribe, attachments kept."""
        head = headers.fold("Message-ID", [headers.check_msg_id(message_id, "message_id")])
        return self._join(
            head, self._text(None, None, clean=True), self._html(None, None, None, clean=True)
        )

    def _join(self, head: bytes, text: bytes, html: bytes | None) -> bytes:
        out = [self.visible_headers, head]
        for item in self.layout:
            if isinstance(item, bytes):
                out.append(item)
            elif item is BodySlot.TEXT:
                out.append(text)
            else:
                out.append(html or b"")
        return b"".join(out)

    def _copy_headers(self, values: CopyValues, unsubscribe: Unsubscribe | None) -> bytes:
        out = [headers.fold("Message-ID", [headers.check_msg_id(values.message_id, "message_id")])]
        if values.reply_to is not None:
            address = parse_address(values.reply_to, "reply_to")
            if address.needs_smtputf8 and not self.needs_smtputf8:
                raise ComposeError(
                    "reply_to",
                    "a non-ASCII reply address needs SMTPUTF8, "
                    "which no other address of this email needs",
                    "use an ASCII reply address",
                )
            out.append(
                headers.fold("Reply-To", headers.mailbox(None, address, self.needs_smtputf8))
            )
        if unsubscribe is not None:
            # RFC 2369 §3.2 (both URIs, mailto: first) and RFC 8058 §3.1 (one-click POST).
            out.append(
                headers.fold(
                    "List-Unsubscribe", [f"<{unsubscribe.mailto}>,", f"<{unsubscribe.https}>"]
                )
            )
            out.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        if values.extra_headers:
            for name, value in check_copy_headers(values.extra_headers):
                out.append(headers.fold(name, headers.unstructured(value, self.needs_smtputf8)))
        return b"".join(out)

    def _text(
        self,
        click_urls: Sequence[str] | None,
        unsubscribe: Unsubscribe | None,
        *,
        clean: bool = False,
    ) -> bytes:
        program = self.text
        values: list[str] = []
        for slot in program.slots:
            if slot.kind is SlotKind.LINK:
                values.append(click_urls[slot.link] if click_urls is not None else slot.original)
            elif slot.kind is SlotKind.UNSUBSCRIBE:
                values.append(unsubscribe.https if unsubscribe is not None else slot.original)
            elif (
                unsubscribe is not None and self.bulk and not clean and not program.has_placeholder
            ):
                values.append(footer_text(unsubscribe.https, self.unsubscribe_label))
            else:
                values.append("")
        return text_part("plain", program.render(values))

    def _html(
        self,
        click_urls: Sequence[str] | None,
        unsubscribe: Unsubscribe | None,
        pixel_url: str | None,
        *,
        clean: bool = False,
    ) -> bytes | None:
        program = self.html
        if program is None:
            return None
        escaped: dict[int, str] = {}
        values: list[str] = []
        for slot in program.slots:
            if slot.kind is SlotKind.LINK:
                if click_urls is None:
                    values.append(slot.original)
                else:
                    value = escaped.get(slot.link)
                    if value is None:
                        value = escaped[slot.link] = f'"{html_lib.escape(click_urls[slot.link])}"'
                    values.append(value)
            elif slot.kind is SlotKind.UNSUBSCRIBE:
                values.append(
                    f'"{html_lib.escape(unsubscribe.https)}"'
                    if unsubscribe is not None
                    else slot.original
                )
            else:
                end = ""
                if (
                    unsubscribe is not None
                    and self.bulk
                    and not clean
                    and not program.has_placeholder
                ):
                    end = footer_html(unsubscribe.https, self.unsubscribe_label)
                if pixel_url is not None:
                    end += pixel_html(pixel_url)
                values.append(end)
        return text_part("html", program.render(values))


# -- building -------------------------------------------------------------------------------


def _visible_headers(
    email: Email, checked_email: CheckedEmail, date: datetime, email_token: str
) -> bytes:
    utf8 = checked_email.needs_smtputf8
    out = [
        headers.fold("From", headers.mailbox(checked_email.sender_name, checked_email.sender, utf8))
    ]
    for role, name in ((Role.TO, "To"), (Role.CC, "Cc")):
        listed = [
            headers.mailbox(item.name, item.address, utf8)
            for item in checked_email.recipients
            if item.role is role
        ]
        if listed:
            out.append(headers.fold(name, headers.address_list(listed)))
    if not any(item.role is not Role.BCC for item in checked_email.recipients):
        # Only Bcc recipients: an empty group, as RFC 5322 §3.6.3 suggests.
        out.append(b"To: undisclosed-recipients:;\r\n")
    out.append(headers.fold("Date", [format_datetime(date)]))
    out.append(headers.fold("Subject", headers.unstructured(email.subject, utf8)))
    out.append(b"MIME-Version: 1.0\r\n")
    if checked_email.in_reply_to:
        out.append(headers.fold("In-Reply-To", [checked_email.in_reply_to]))
    if checked_email.references:
        out.append(headers.fold("References", list(checked_email.references)))
    for name, value in checked_email.headers:
        out.append(headers.fold(name, headers.unstructured(value, utf8)))
    out.append(headers.fold("X-Postroom-Email", [email_token]))
    if email.notification:
        out.append(b"Auto-Submitted: auto-generated\r\n")  # RFC 3834 §5
    return b"".join(out)


def _sample_values(template: Template) -> CopyValues:
    """Copy values of typical length, to measure one copy for the SIZE check."""
    url = "https://" + "t" * 120
    return CopyValues(
        message_id="m" * 48 + "@" + "d" * 30,
        reply_to=("r" * 60 + "@" + "d" * 30) if template.replies_to_handler else None,
        pixel_url=url if template.tracks_opens else None,
        click_urls=[url] * len(template.links),
        unsubscribe=Unsubscribe("mailto:" + "u" * 90, url) if template.needs_unsubscribe else None,
    )


def build_template(
    email: Email,
    *,
    sender: Mailbox,
    date: datetime,
    email_token: str,
    options: ComposeOptions = ComposeOptions(),
) -> Template:
    """Check ``email`` and build its template; raise :class:`ComposeError` naming the first
    field that is wrong, before anything is built."""
    checked_email = check_email(email, sender, date, email_token)
    headers.check_value(options.unsubscribe_label, "options.unsubscribe_label")
    tracking = email.tracking
    table = LinkTable() if tracking.clicks else None
    track_off: set[str] = set()
    html_program: Program | None = None
    if email.html:
        html_program = scan_html(normalise_newlines(email.html), table, track_off)
    text_source = email.text if email.text else html_to_text(email.html or "")
    if table is not None:
        table.off = frozenset(track_off)
    text_program = scan_text(normalise_newlines(text_source), table)
    template = Template(
        email_token=email_token,
        needs_smtputf8=checked_email.needs_smtputf8,
        links=tuple(table.urls) if table is not None else (),
        visible_headers=_visible_headers(email, checked_email, date, email_token),
        layout=build_layout(
            has_html=html_program is not None, inline=email.inline, attachments=email.attachments
        ),
        text=text_program,
        html=html_program,
        recipients=checked_email.recipients,
        duplicates=checked_email.duplicates,
        bulk=email.bulk,
        tracks_opens=tracking.opens and html_program is not None,
        replies_to_handler=email.reply is not None,
        unsubscribe_label=options.unsubscribe_label,
    )
    size = len(template.personalise(_sample_values(template)))
    object.__setattr__(template, "size_estimate", size)
    return template
