"""Structure decides first: people's mail about bounces, read receipts, automatic replies."""

from __future__ import annotations

import pytest

from postroom.understand.bounces import MessageKind, classify_message

POSTFIX_NOTICE = """This is the mail system at host mx.example.com.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<bob@example.net>: host mx.example.net[192.0.2.1] said: 550 5.1.1
    <bob@example.net>: Recipient address rejected: User unknown in virtual
    mailbox table (in reply to RCPT TO command)
"""

DSN = """From: MAILER-DAEMON@mx.example.com (Mail Delivery System)
To: ann@example.org
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; bob@example.net
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--B--
"""


def quoted(text: str) -> str:
    return "".join(f"> {line}\n" if line else ">\n" for line in text.split("\n"))


PERSON_REPLY = (
    "From: Ann Person <ann@example.org>\nTo: support@example.com\n"
    "Subject: Re: Undelivered Mail Returned to Sender\n"
    "In-Reply-To: <n1@mx.example.com>\nReferences: <n1@mx.example.com>\n\n"
    "Why did my mail to bob fail? The address is right.\n\n"
    "On Tue, 1 Dec 2026, Mail Delivery System wrote:\n" + quoted(POSTFIX_NOTICE)
)
PERSON_FORWARD_INLINE = (
    "From: Ann Person <ann@example.org>\nTo: support@example.com\n"
    "Subject: Fwd: Undelivered Mail Returned to Sender\n\n"
    "Could you look at this?\n\n"
    "---------- Forwarded message ---------\n"
    "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\n"
    "Subject: Undelivered Mail Returned to Sender\n\n" + POSTFIX_NOTICE
)
PERSON_FORWARD_ATTACHED = (
    "From: Ann Person <ann@example.org>\nTo: support@example.com\n"
    "Subject: Fwd: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
    'Content-Type: multipart/mixed; boundary="OUT"\n\n'
    "--OUT\nContent-Type: text/plain\n\nSee the attached bounce, can you help?\n\n"
    "--OUT\nContent-Type: message/rfc822\n\n" + DSN + "\n--OUT--\n"
)
LIST_POST = (
    "From: Carl <carl@example.org>\nTo: postfix-users@lists.example.org\n"
    "Subject: Delivery failures to outlook.com: 550 5.7.1 blocked\n"
    "List-Id: Postfix users <postfix-users.lists.example.org>\n"
    "List-Post: <mailto:postfix-users@lists.example.org>\n\n"
    "Since yesterday every delivery fails; the message could not be delivered and the log\n"
    'says "host said: 550 5.7.1 Unfortunately, messages from [192.0.2.1] weren\'t sent".\n'
)
# A mail system that copies a list post's header into its notice (a virus wall) still bounces.
LIST_HEADERS_COPIED = (
    "From: Mail Delivery System <MAILER-DAEMON@gw.example.net>\n"
    "To: list-bounces@lists.example.org\nSubject: Undeliverable: news\n"
    "List-Id: <news.lists.example.org>\nList-Post: <mailto:news@lists.example.org>\n\n"
    "Your message could not be delivered to the following recipient:\n\n"
    "  dave@example.net\n    550 5.1.1 mailbox unavailable (in reply to RCPT TO command)\n"
)


SHOP_NOTICE = (
    "From: Shop <orders@shop.example>\nTo: ann@example.org\nSubject: Invoice rejected\n\n"
    "Your parcel could not be delivered to the address you gave.\n"
    "Please check it and contact us.\n"
)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a shop's notice about a parcel", SHOP_NOTICE),
        ("a person's reply quoting a bounce", PERSON_REPLY),
        ("a person's inline forward of a bounce", PERSON_FORWARD_INLINE),
        ("a person's forward with the bounce attached", PERSON_FORWARD_ATTACHED),
        ("a list post about delivery failures", LIST_POST),
    ],
)
def test_people_writing_about_bounces_are_normal_mail(name: str, message: str) -> None:
    got = classify_message(message.encode())
    assert got.kind is MessageKind.NORMAL and not got.is_bounce, name
    assert got.recipients == (), name


def test_a_mail_system_copying_list_headers_still_bounces() -> None:
    got = classify_message(LIST_HEADERS_COPIED.encode())
    assert got.is_bounce
    assert [(r.address, r.reason, r.hard) for r in got.recipients] == [
        ("dave@example.net", "userunknown", True)
    ]


def test_the_attached_bounce_itself_is_still_a_bounce() -> None:
    got = classify_message(DSN.encode())
    assert got.is_bounce and [r.address for r in got.recipients] == ["bob@example.net"]


def mdn(disposition: str, text: str = "Your message was displayed.") -> bytes:
    return (
        "From: Bob <bob@example.net>\nTo: sender@example.com\nSubject: Read: hello\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="M"\n\n'
        f"--M\nContent-Type: text/plain\n\n{text}\n\n"
        "--M\nContent-Type: message/disposition-notification\n\n"
        "Reporting-UA: bob.example.net; Thunderbird\n"
        "Original-Recipient: rfc822;Bob@Example.net\nFinal-Recipient: rfc822;bob@example.net\n"
        "Original-Message-ID: <copy-9@example.com>\n"
        f"Disposition: {disposition}\n\n--M--\n"
    ).encode()


def test_a_displayed_mdn_is_a_read_receipt() -> None:
    got = classify_message(mdn("manual-action/MDN-sent-manually; displayed"))
    assert got.kind is MessageKind.READ_RECEIPT and not got.is_bounce
    assert got.original_message_id == "copy-9@example.com"
    (rcpt,) = got.recipients
    assert (rcpt.address, rcpt.reason, rcpt.hard) == ("bob@example.net", "displayed", False)
    assert got.to_json()["kind"] == "read_receipt"


def test_a_sieve_reject_mdn_is_a_filtered_refusal() -> None:
    got = classify_message(
        mdn("automatic-action/MDN-sent-automatically; deleted", "I don't want this mail.")
    )
    assert got.is_bounce
    (rcpt,) = got.recipients
    assert (rcpt.address, rcpt.action, rcpt.reason, rcpt.hard) == (
        "bob@example.net",
        "failed",
        "filtered",
        False,
    )
    assert rcpt.diagnostic == "I don't want this mail."


def test_a_person_deleting_unread_is_a_receipt_not_a_refusal() -> None:
    got = classify_message(mdn("manual-action/MDN-sent-manually; deleted"))
    assert got.kind is MessageKind.READ_RECEIPT
    assert got.recipients[0].reason == "deleted"


def message(subject: str, body: str, **headers: str) -> bytes:
    head = "".join(f"{k.replace('_', '-')}: {v}\n" for k, v in headers.items())
    return (
        f"From: Dana <dana@example.org>\nTo: sender@example.com\nSubject: {subject}\n{head}\n{body}"
    ).encode()


@pytest.mark.parametrize(
    ("name", "raw", "kind"),
    [
        (
            "vacation(1): 'Re:' with Precedence: bulk",
            message("Re: meeting", "I am on vacation until July 22.\n", Precedence="bulk"),
            MessageKind.AUTO_REPLY,
        ),
        (
            "vacation(1)'s own header",
            message(
                "I am away",
                "Back on Monday.\n",
                Delivered_By_The_Graces_Of="The Vacation program",
                Precedence="bulk",
            ),
            MessageKind.AUTO_REPLY,
        ),
        (
            "Exchange 'Automatic reply:'",
            message("Automatic reply: meeting", "Away.\n", X_Auto_Response_Suppress="All"),
            MessageKind.AUTO_REPLY,
        ),
        (
            "Outlook in German",
            message("Automatische Antwort: Termin", "Ich bin nicht im Büro.\n"),
            MessageKind.AUTO_REPLY,
        ),
        (
            "Lotus Notes 'AUTO:'",
            message("AUTO: Dana is out of the office (returning 01/02/2027)", "Away.\n"),
            MessageKind.AUTO_REPLY,
        ),
        (
            "RFC 3834 Auto-Submitted",
            message("Re: meeting", "Away.\n", Auto_Submitted="auto-replied (vacation)"),
            MessageKind.AUTO_REPLY,
        ),
        (
            "auto-generated and an out-of-office opening, in a thread",
            message(
                "Re: hello",
                "Thank you for your message. I am out of the office until May 3.\n",
                In_Reply_To="<m1@example.com>",
                Auto_Submitted="auto-generated",
            ),
            MessageKind.AUTO_REPLY,
        ),
        (
            "Exchange's suppression mark and an out-of-office opening",
            message(
                "Away",
                "I'm currently away from the office.\n",
                In_Reply_To="<m1@example.com>",
                X_Auto_Response_Suppress="All",
            ),
            MessageKind.AUTO_REPLY,
        ),
        (
            "a German notice with a bulk precedence",
            message("Abwesend", "Ich bin bis zum 5. Mai nicht im Büro.\n", Precedence="bulk"),
            MessageKind.AUTO_REPLY,
        ),
        (
            "a person's threaded reply saying they are away",
            message(
                "Re: hello",
                "I am out of the office until Monday, will answer then.\n",
                In_Reply_To="<m1@example.com>",
            ),
            MessageKind.NORMAL,
        ),
        (
            "a person planning a vacation",
            message("Vacation plans", "Hi all, I'll be out of office next week.\n"),
            MessageKind.NORMAL,
        ),
        (
            "a person's reply saying they will be away",
            message(
                "Re: meeting",
                "I will be on vacation next week, let's meet after.\n",
                In_Reply_To="<m1@example.com>",
            ),
            MessageKind.NORMAL,
        ),
        (
            "a list post with a bulk precedence",
            message(
                "Re: release plans",
                "Sounds good.\n",
                Precedence="bulk",
                List_Id="<dev.lists.example.org>",
            ),
            MessageKind.NORMAL,
        ),
    ],
)
def test_automatic_replies(name: str, raw: bytes, kind: MessageKind) -> None:
    assert classify_message(raw).kind is kind, name


def test_an_auto_reply_names_the_message_it_answers() -> None:
    raw = message("Automatic reply: meeting", "Away.\n", In_Reply_To="<copy-5@example.com>")
    assert classify_message(raw).original_message_id == "copy-5@example.com"
