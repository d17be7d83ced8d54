"""The template and its splice: headers, links, unsubscribe, encodings, stored form, clean copy."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, message_from_string, policy
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest

from postroom.compose import (
    Attachment,
    CopyValues,
    Email,
    Inline,
    Mailbox,
    Recipient,
    ReplyTo,
    Role,
    Template,
    Track,
    Unsubscribe,
    build_template,
)
from postroom.compose.template import ComposeOptions
from postroom.errors import ComposeError

SENDER = Mailbox("news@example.org", "Example News")
DATE = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
UNSUB = Unsubscribe("mailto:unsub+1@example.org", "https://t.example/u/1")


def build(email: Email, **kwargs: object) -> Template:
    return build_template(email, sender=SENDER, date=DATE, email_token="em-7", **kwargs)  # type: ignore[arg-type]


def parse(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    for part in message.walk():
        assert part.defects == []
    return message


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None
    return part.get_content().replace("\r\n", "\n")


def header_block(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


def email(**changes: object) -> Email:
    fields: dict[str, object] = {
        "account": "news",
        "to": [Recipient("ada@example.net", "Ada Lovelace"), "alan@example.net"],
        "cc": [Recipient("grace@example.com", "Grace Hopper")],
        "bcc": [Recipient("secret.boss@example.com", "The Boss")],
        "subject": "Your weekly news",
        "text": "Hello,\nread https://example.org/a and https://example.org/b.\n",
        "html": '<p>Hello, read <a href="https://example.org/a">a</a> and '
        '<a href="https://example.org/b">b</a>.</p>',
    }
    fields.update(changes)
    return Email(**fields)  # type: ignore[arg-type]


def values(n: int, template: Template, **changes: object) -> CopyValues:
    fields: dict[str, object] = {
        "message_id": f"copy{n}@example.org",
        "click_urls": [f"https://t.example/c/{n}/{i}" for i in range(len(template.links))],
        "pixel_url": f"https://t.example/o/{n}" if template.tracks_opens else None,
        "unsubscribe": UNSUB if template.needs_unsubscribe else None,
    }
    fields.update(changes)
    return CopyValues(**fields)  # type: ignore[arg-type]


# -- visible headers -------------------------------------------------------------------------


def test_visible_headers_are_byte_identical_across_to_cc_and_bcc_copies() -> None:
    template = build(email(reply=ReplyTo("forum")))
    copies = [
        template.personalise(values(n, template, reply_to=f"reply+{n}@reply.example.org"))
        for n, _ in enumerate(template.recipients)
    ]
    assert [a.role for a in template.recipients] == [Role.TO, Role.TO, Role.CC, Role.BCC]
    for data in copies:
        assert data.startswith(template.visible_headers)
        assert b"secret.boss" not in data and b"The Boss" not in data
        assert re.search(rb"^Bcc:", data, re.MULTILINE | re.IGNORECASE) is None
    blocks = [header_block(data) for data in copies]
    differing = {
        line.split(b":")[0]
        for block in blocks
        for line in re.split(rb"\r\n(?! )", block)
        if line not in re.split(rb"\r\n(?! )", blocks[0])
    }
    assert differing <= {b"Message-ID", b"Reply-To"}
    parsed = parse(copies[3])  # the Bcc recipient's copy shows the same To and Cc
    assert str(parsed["To"]) == "Ada Lovelace <ada@example.net>, alan@example.net"
    assert str(parsed["Cc"]) == "Grace Hopper <grace@example.com>"
    assert parsed["X-Postroom-Email"] == "em-7"


def test_only_bcc_recipients_get_an_empty_group_in_to() -> None:
    template = build(email(to=[], cc=[], bcc=["a@example.org", "b@example.org"]))
    data = template.personalise(values(0, template))
    assert b"To: undisclosed-recipients:;\r\n" in data
    assert b"a@example.org" not in data and b"b@example.org" not in data


def test_notification_and_threading_headers() -> None:
    template = build(
        email(
            notification=True,
            in_reply_to="parent@example.org",
            references=["<root@example.org>", "parent@example.org"],
            headers={"X-Ticket": "42"},
        )
    )
    message = parse(template.personalise(values(0, template)))
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["In-Reply-To"] == "<parent@example.org>"
    assert message["References"] == "<root@example.org> <parent@example.org>"
    assert message["X-Ticket"] == "42"
    assert message["MIME-Version"] == "1.0"
    assert message["Date"] == "Sat, 21 Nov 2026 12:00:00 +0000"


def test_non_ascii_names_and_subject_are_rfc_2047_encoded_words() -> None:
    name = "Zoë Ünïcode-Ströbel, the very long-named correspondent of Ürümqi"
    template = build(
        email(
            to=[Recipient("zoe@example.org", name)],
            cc=[],
            bcc=[],
            subject="Grüße aus Köln " * 8 + "=?utf-8?q?not-a-word?=",
        )
    )
    data = template.personalise(values(0, template))
    head = header_block(data)
    assert head.isascii()
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    raw = message_from_bytes(data)  # compat32: raw header text
    # RFC 2047 §6.2 decoding (white space between encoded words dropped) gives the exact input.
    assert (
        str(make_header(decode_header(raw["Subject"])))
        == "Grüße aus Köln " * 8 + "=?utf-8?q?not-a-word?="
    )
    decoded_to = str(make_header(decode_header(raw["To"])))
    assert decoded_to == f"{name} <zoe@example.org>"


def test_smtputf8_addresses_put_raw_utf8_in_headers() -> None:
    template = build(
        email(to=[Recipient("josé@exämple.org", "José Ñandú")], cc=[], bcc=[], subject="Olá")
    )
    assert template.needs_smtputf8
    assert str(template.recipients[0].address) == "josé@xn--exmple-cua.org"
    data = template.personalise(values(0, template))
    assert "To: José Ñandú <josé@xn--exmple-cua.org>\r\n".encode() in data
    assert "Subject: Olá\r\n".encode() in data
    # RFC 6532 headers are UTF-8 text; the stdlib's bytes parser would surrogate-escape them.
    message = message_from_string(data.decode("utf-8"), policy=policy.default)
    assert message.defects == []
    assert message["To"].addresses[0].username == "josé"
    assert message["Subject"] == "Olá"


def test_a_non_ascii_bcc_address_needs_smtputf8_in_its_own_transaction_only() -> None:
    template = build(email(bcc=["josé@example.org"]))
    assert not template.needs_smtputf8
    assert [a.needs_smtputf8 for a in template.recipients] == [False, False, False, True]
    data = template.personalise(values(0, template))
    assert data.isascii()


def test_ascii_email_does_not_need_smtputf8_and_idna_domains_are_a_labels() -> None:
    template = build(email(to=["Bob@Bücher.Example", "x@ΑΒΓ.example"], cc=[], bcc=[]))
    assert not template.needs_smtputf8
    assert [str(a.address) for a in template.recipients] == [
        "Bob@xn--bcher-kva.example",
        "x@xn--mxacd.example",
    ]


def test_quoted_names_and_specials() -> None:
    template = build(email(to=[Recipient("a@example.org", 'Doe, John "JD"')], cc=[], bcc=[]))
    data = template.personalise(values(0, template))
    assert b'To: "Doe, John \\"JD\\"" <a@example.org>\r\n' in data
    assert parse(data)["To"].addresses[0].display_name == 'Doe, John "JD"'


def test_duplicates_are_merged_into_the_first_role() -> None:
    template = build(
        email(
            to=["ada@example.net"],
            cc=["ADA@example.net", "c@example.org"],
            bcc=["c@EXAMPLE.org", "d@example.org"],
        )
    )
    kept = [(a.role, str(a.address), a.index) for a in template.recipients]
    assert kept == [
        (Role.TO, "ada@example.net", 0),
        (Role.CC, "c@example.org", 2),
        (Role.BCC, "d@example.org", 4),
    ]
    assert [(a.role, a.index) for a in template.duplicates] == [(Role.CC, 1), (Role.BCC, 3)]
    assert b"ADA@" not in template.visible_headers


# -- links -----------------------------------------------------------------------------------


def test_link_rules_in_html() -> None:
    html = (
        '<a href="https://example.org/a?x=1&amp;y=2">tracked</a>'
        "<A HREF='http://example.org/b'>upper case, single quotes</A>"
        '<area href=" https://example.org/c " alt="map">'
        '<a href="mailto:someone@example.org">mail</a><a href="tel:+123">tel</a>'
        '<a href="sms:+123">sms</a><a href="#top">anchor</a><a href="/relative">rel</a>'
        '<a href="//example.org/proto">scheme-relative</a>'
        '<a data-postroom-track="off" href="https://example.org/private">off</a>'
        '<a href="https://example.org/a?x=1&amp;y=2">same URL again</a>'
        '<!-- <a href="https://example.org/comment">x</a> -->'
        '<script>var s = "<a href=\\"https://example.org/script\\">";</script>'
        '<a href="postroom:unsubscribe">unsubscribe</a>'
    )
    template = build(email(html=html, text=None, bulk=True))
    assert template.links == (
        "https://example.org/a?x=1&y=2",
        "http://example.org/b",
        "https://example.org/c",
    )
    message = parse(template.personalise(values(3, template)))
    out = body(message, "html")
    assert out.count('"https://t.example/c/3/0"') == 2
    assert '<A HREF="https://t.example/c/3/1">' in out
    assert '<area href="https://t.example/c/3/2" alt="map">' in out
    for kept in (
        'href="mailto:someone@example.org"',
        'href="tel:+123"',
        'href="#top"',
        'href="/relative"',
        'href="//example.org/proto"',
        "example.org/comment",
        "example.org/script",
        '<a href="https://example.org/private">off</a>',
    ):
        assert kept in out
    assert "data-postroom-track" not in out
    assert '<a href="https://t.example/u/1">unsubscribe</a>' in out


def test_text_links_follow_the_html_marks() -> None:
    text = (
        "See https://example.org/a, (https://example.org/wiki/Foo_(bar)) and "
        "<https://example.org/private>. Mail me: mailto:x@example.org.\n"
        "Not a link: ftp://example.org/file http:/broken"
    )
    html = (
        '<a href="https://example.org/a">a</a>'
        '<a data-postroom-track="off" href="https://example.org/private">p</a>'
    )
    template = build(email(text=text, html=html))
    assert template.links == ("https://example.org/a", "https://example.org/wiki/Foo_(bar)")
    out = body(parse(template.personalise(values(1, template))), "plain")
    assert out.startswith(
        "See https://t.example/c/1/0, (https://t.example/c/1/1) and <https://example.org/private>."
    )
    assert "ftp://example.org/file http:/broken" in out


def test_text_only_email_tracks_every_bare_url_and_has_no_pixel() -> None:
    template = build(email(html=None, text="Go to https://example.org/x now\n"))
    assert template.links == ("https://example.org/x",)
    assert not template.tracks_opens
    with pytest.raises(ComposeError) as error:
        template.personalise(values(0, template, pixel_url="https://t.example/o/1"))
    assert error.value.field == "pixel_url"
    data = template.personalise(values(0, template))
    assert parse(data).get_content_type() == "text/plain"
    assert b"Go to https://t.example/c/0/0 now" in data


def test_tracking_off() -> None:
    template = build(email(track=False))
    assert template.links == () and not template.tracks_opens
    data = template.personalise(CopyValues(message_id="m@example.org", click_urls=[]))
    assert b"https://example.org/a" in data
    clicks_only = build(email(track=Track(opens=False)))
    assert len(clicks_only.links) == 2 and not clicks_only.tracks_opens


def test_no_click_urls_leaves_links_as_written() -> None:
    html = "<a href='https://example.org/a?b=1&amp;c=2' class=x>a</a>"
    template = build(email(html=html))
    out = body(parse(template.personalise(CopyValues(message_id="m@example.org"))), "html")
    assert out == html + "\n"


def test_pixel_goes_before_the_last_body_end_tag() -> None:
    html = "<html><body><p>hi</p></BODY></html>"
    template = build(email(html=html))
    out = body(parse(template.personalise(values(0, template))), "html")
    assert re.fullmatch(
        r'<html><body><p>hi</p><img src="https://t.example/o/0" width="1" '
        r'height="1" alt="" style="[^"]+"></BODY></html>\n',
        out,
    )


def test_click_urls_must_match_the_links() -> None:
    template = build(email())
    with pytest.raises(ComposeError) as error:
        template.personalise(values(0, template, click_urls=["https://t.example/c"]))
    assert error.value.field == "click_urls"
    with pytest.raises(ComposeError) as error:
        template.personalise(
            values(0, template, click_urls=["https://t.example/c", "javascript:alert(1)"])
        )
    assert error.value.field == "click_urls[1]"
    with pytest.raises(ComposeError) as error:
        template.personalise(values(0, template, click_urls=['https://t/"x', "https://t/y"]))
    assert error.value.field == "click_urls[0]"


# -- unsubscribe -----------------------------------------------------------------------------


def test_bulk_without_placeholder_gets_a_footer_in_both_parts_and_the_headers() -> None:
    template = build(email(bulk=True), options=ComposeOptions(unsubscribe_label="Leave"))
    with pytest.raises(ComposeError) as error:
        template.personalise(values(0, template, unsubscribe=None))
    assert error.value.field == "unsubscribe"
    message = parse(template.personalise(values(0, template)))
    assert message["List-Unsubscribe"] == ("<mailto:unsub+1@example.org>, <https://t.example/u/1>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body(message, "plain").endswith("\nLeave: https://t.example/u/1\n")
    assert '<a href="https://t.example/u/1">Leave</a></p><img' in body(message, "html")


def test_placeholder_replaces_the_footer() -> None:
    template = build(
        email(
            bulk=True,
            text="Bye. Unsubscribe: postroom:unsubscribe\n",
            html='<a href="postroom:unsubscribe">Unsubscribe</a>',
        )
    )
    message = parse(template.personalise(values(0, template)))
    assert body(message, "plain") == "Bye. Unsubscribe: https://t.example/u/1\n"
    assert body(message, "html").startswith('<a href="https://t.example/u/1">Unsubscribe</a>')
    assert "Unsubscribe</a></p>" not in body(message, "html")


def test_placeholder_in_derived_text() -> None:
    template = build(
        email(
            bulk=True,
            text=None,
            html='<p>Read <a href="https://example.org/a">this</a>.</p>'
            '<p><a href="postroom:unsubscribe">Unsubscribe</a></p>',
        )
    )
    text = body(parse(template.personalise(values(0, template))), "plain")
    assert text == ("Read this <https://t.example/c/0/0>.\n\nUnsubscribe <https://t.example/u/1>\n")


def test_non_bulk_email_with_unsubscribe_values_gets_headers_but_no_footer() -> None:
    template = build(email())
    message = parse(template.personalise(values(0, template, unsubscribe=UNSUB)))
    assert message["List-Unsubscribe"] is not None
    assert "https://t.example/u/1" not in body(message, "plain")


# -- structure and encodings -----------------------------------------------------------------


def test_structure_with_inline_and_attachments() -> None:
    template = build(
        email(
            html='<p>Logo: <img src="cid:logo@example.org"></p>',
            inline=[
                Inline(
                    "logo@example.org", b"\x89PNG\r\n\x1a\n" + bytes(300), "image/png", "logo.png"
                )
            ],
            attachments=[
                Attachment(
                    "Überblick 2026 — ein sehr langer Dateiname, der über die Zeile hinausgeht.pdf",
                    bytes(range(256)) * 8,
                    "application/pdf",
                ),
                Attachment("notes.txt", b"line one\nline two\n", "text/plain"),
            ],
        )
    )
    message = parse(template.personalise(values(0, template)))
    tree = [part.get_content_type() for part in message.walk()]
    assert tree == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "application/pdf",
        "text/plain",
    ]
    attachments = list(message.iter_attachments())
    assert attachments[0].get_filename() == (
        "Überblick 2026 — ein sehr langer Dateiname, der über die Zeile hinausgeht.pdf"
    )
    assert attachments[0].get_content() == bytes(range(256)) * 8
    assert attachments[1].get_payload(decode=True) == b"line one\nline two\n"
    image = next(p for p in message.walk() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == "<logo@example.org>"
    assert image.get_content_disposition() == "inline"


def test_transfer_encodings_are_chosen_per_part_and_per_copy() -> None:
    long_line = "word " * 40
    template = build(
        email(
            text="short ascii lines\nhttps://example.org/a\n", html=f"<p>{long_line}</p><p>çà</p>"
        )
    )
    data = template.personalise(values(0, template))
    parts = data.split(b"Content-Type: text/")
    assert b"plain" in parts[1][:10] and b"Content-Transfer-Encoding: 7bit" in parts[1]
    assert b"Content-Transfer-Encoding: quoted-printable" in parts[2]
    # A click URL long enough to push the text over 78 characters a line turns it into QP.
    long_click = "https://t.example/c/" + "x" * 90
    data = template.personalise(values(0, template, click_urls=[long_click]))
    assert (
        b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: '
        b"quoted-printable" in data
    )
    assert long_click in body(parse(data), "plain")
    assert max(len(line) for line in data.split(b"\r\n")) <= 78


def test_a_7bit_body_holding_the_boundary_prefix_is_quoted_printable() -> None:
    template = build(email(text="a=_b\n", html=None))
    data = template.personalise(values(0, template))
    assert b"quoted-printable" in data
    assert body(parse(data), "plain") == "a=_b\n"


def test_every_line_ends_in_crlf_and_fits() -> None:
    template = build(
        email(
            text="x" * 5000 + "\r\nlone\rcr\n",
            html="<p>" + "é" * 3000 + "</p>",
            attachments=[Attachment("a.bin", bytes(5000))],
        )
    )
    data = template.personalise(values(0, template))
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 78
    assert body(parse(data), "plain") == "x" * 5000 + "\nlone\ncr\n"


def test_size_estimate_is_close_to_a_real_copy() -> None:
    template = build(email(attachments=[Attachment("a.bin", bytes(40_000))]))
    size = len(template.personalise(values(0, template)))
    assert size <= template.size_estimate <= size * 1.2


# -- copies for the sender and for storage ---------------------------------------------------


def test_clean_copy_is_the_authors_version() -> None:
    template = build(
        email(
            bulk=True,
            reply=ReplyTo("forum"),
            attachments=[Attachment("a.pdf", b"%PDF", "application/pdf")],
        )
    )
    copy = template.personalise(values(0, template, reply_to="reply+1@reply.example.org"))
    clean = template.clean_copy("sent@example.org")
    assert header_block(copy).startswith(template.visible_headers)
    assert clean.startswith(template.visible_headers)
    message = parse(clean)
    assert message["Message-ID"] == "<sent@example.org>"
    for absent in ("Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert message[absent] is None
    assert "https://example.org/a" in body(message, "html")
    assert "t.example" not in clean.decode()
    assert "Unsubscribe" not in body(message, "plain")
    assert [p.get_filename() for p in message.iter_attachments()] == ["a.pdf"]


def test_handler_emails_need_a_reply_address_per_copy() -> None:
    template = build(email(reply=ReplyTo("forum")))
    with pytest.raises(ComposeError) as error:
        template.personalise(values(0, template))
    assert error.value.field == "reply_to"
    with pytest.raises(ComposeError) as error:
        template.personalise(values(0, template, reply_to="not an address"))
    assert error.value.field == "reply_to"
    data = template.personalise(values(0, template, reply_to="reply+abc@reply.example.org"))
    assert b"Reply-To: reply+abc@reply.example.org\r\n" in data


def test_per_copy_extra_headers_are_checked() -> None:
    template = build(email())
    data = template.personalise(values(0, template, extra_headers={"X-Copy": "7"}))
    assert b"X-Copy: 7\r\n" in data
    for name, value, field in (
        ("X-Copy", "a\r\nBcc: x@example.org", "extra_headers['X-Copy']"),
        ("Reply-To", "x@example.org", "extra_headers['Reply-To']"),
        ("Bad Name", "x", "extra_headers['Bad Name']"),
    ):
        with pytest.raises(ComposeError) as error:
            template.personalise(values(0, template, extra_headers={name: value}))
        assert error.value.field == field
    with pytest.raises(ComposeError) as error:
        template.personalise(values(0, template, message_id="<two@ids> <x@y>"))
    assert error.value.field == "message_id"


def test_stored_form_round_trips() -> None:
    template = build(
        email(
            bulk=True,
            reply=ReplyTo("forum"),
            to=[Recipient("josé@example.org", "José")],
            html='<p><a href="https://example.org/a">a</a><img src="cid:i@x"></p>',
            inline=[Inline("i@x", b"GIF89a", "image/gif")],
            attachments=[Attachment("r.pdf", bytes(range(256)) * 100)],
        )
    )
    stored = template.to_bytes()
    loaded = Template.from_bytes(stored)
    assert loaded == template
    values_ = values(0, template, reply_to="reply+1@reply.example.org")
    assert loaded.personalise(values_) == template.personalise(values_)
    assert loaded.clean_copy("c@example.org") == template.clean_copy("c@example.org")
    assert len(stored) < len(template.personalise(values_))


def test_stored_form_refuses_what_it_does_not_know() -> None:
    stored = build(email()).to_bytes()
    for broken in (b"", b"nope", b"PRT\x09" + stored[4:], stored[:-5], stored[:4] + b"junk"):
        with pytest.raises(ComposeError) as error:
            Template.from_bytes(broken)
        assert error.value.field == "template"
