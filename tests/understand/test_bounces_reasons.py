"""Reason, status and hard/soft decisions on wordings that fool a naive reader.

Each case names the trap. The texts are written the way MTAs word these conditions; addresses and
URLs are already removed, as the classifier removes them before deciding.
"""

from __future__ import annotations

import pytest

from postroom.understand.bounces.reasons import (
    decide_reason,
    find_command,
    find_reply_code,
    find_status,
    infer_status,
    is_hard,
    reason_from_status,
    reason_from_text,
)

REASONS = [
    # (trap, status, diagnostic, SMTP command, expected reason)
    (
        "spam block sent with a mailbox code",
        "5.1.1",
        "550 5.1.1 message rejected as spam",
        None,
        "spamdetected",
    ),
    (
        "block list sent with a mailbox code",
        "5.1.1",
        "550 5.1.1 client listed in spamhaus zen",
        None,
        "blocked",
    ),
    (
        "not listed in a directory is not a block list",
        None,
        "User not listed in public Name & Address Book",
        None,
        "userunknown",
    ),
    (
        "user unknown answering RCPT",
        "5.0.0",
        "550 User unknown (in reply to RCPT TO command)",
        "rcpt",
        "userunknown",
    ),
    (
        "user unknown after DATA is a filter",
        "5.0.0",
        "550 Unknown user (in reply to end of DATA command)",
        "data",
        "filtered",
    ),
    (
        "user unknown with a bare generic code",
        "5.0.0",
        "550 5.0.0 ... User unknown",
        None,
        "filtered",
    ),
    (
        "user unknown at MAIL FROM is about the sender",
        None,
        "550 5.1.0 sender domain example does not exist",
        "mail",
        "rejected",
    ),
    (
        "no such domain at MAIL FROM",
        "5.1.7",
        "550 5.1.7 No such domain example.com.",
        "mail",
        "rejected",
    ),
    ("mailbox code with user unknown", "5.1.1", "550 5.1.1 ... User Unknown", None, "userunknown"),
    (
        "mailbox-disabled code with user unknown, stage unknown",
        "5.2.1",
        "550 5.2.1 ... User Unknown",
        None,
        "filtered",
    ),
    (
        "mailbox-disabled code with user unknown at RCPT",
        "5.2.1",
        "550 5.2.1 ... User Unknown",
        "rcpt",
        "userunknown",
    ),
    (
        "qmail names the RCPT stage in prose",
        "5.2.1",
        "does not like recipient. Remote host said: 550 5.2.1 User Unknown",
        None,
        "userunknown",
    ),
    (
        "a disabled account, whatever the code",
        "5.2.1",
        "550 5.2.1 The email account that you tried to reach is disabled.",
        None,
        "suspend",
    ),
    (
        "Exchange's own wording needs no code",
        None,
        "The recipient name is not recognized",
        None,
        "userunknown",
    ),
    (
        "Microsoft's curly apostrophe",
        "5.1.10",
        "The email address wasn\u2019t found at the destination domain.",
        None,
        "userunknown",
    ),
    ("X.1.10 with null MX wording", "5.1.10", "Domain has a null MX", None, "notaccept"),
    (
        "null MX reported as a DNS error",
        "4.0.0",
        "DNS Error: the domain doesn't receive email: returned Null MX",
        None,
        "notaccept",
    ),
    (
        "precise mailbox-full code beats the text",
        "5.2.2",
        "550 5.2.2 user unknown",
        None,
        "mailboxfull",
    ),
    (
        "system disk full is not a full mailbox",
        "4.4.5",
        "452 4.4.5 Insufficient disk space; try again later",
        None,
        "systemfull",
    ),
    (
        "connection rate limit under a system code",
        "4.3.2",
        "452 4.3.2 Connection rate limit exceeded.",
        None,
        "toomanyconn",
    ),
    (
        "per-hour recipient budget is a rate",
        "5.1.1",
        "550 5.1.1 has sent to too many recipients this hour",
        None,
        "speeding",
    ),
    ("too many recipients in one session", "5.0.0", "552 Too many recipients", None, "toomanyconn"),
    (
        "DMARC refusal",
        "5.7.1",
        "550-5.7.1 Unauthenticated email from example.com is not accepted due to domain's",
        None,
        "authfailure",
    ),
    (
        "unauthenticated sender means AUTH required",
        "5.0.0",
        "550 Unauthenticated senders not allowed",
        None,
        "securityerror",
    ),
    (
        "a bare 5.7.1 stays a security refusal",
        "5.7.1",
        "550 5.7.1 Access denied",
        None,
        "securityerror",
    ),
    (
        "Sendmail's IP name lookup",
        "4.7.1",
        "450 4.7.1 Access denied. IP name lookup failed",
        None,
        "requireptr",
    ),
    ("header checks are a policy", "5.7.0", "554 5.7.0 Header error", None, "policyviolation"),
    (
        "content flagged as a risk is a policy",
        "5.7.0",
        "552-5.7.0 This message was blocked because its content presents a potential",
        None,
        "policyviolation",
    ),
    (
        "Postfix 'Recipient address rejected:' prefixes other reasons",
        "5.3.0",
        "554 5.3.0 Recipient address rejected: Mailer error",
        "rcpt",
        "mailererror",
    ),
    (
        "a bare recipient address rejection at RCPT",
        "5.0.0",
        "550 : Recipient address rejected.",
        "rcpt",
        "userunknown",
    ),
    (
        "DNS failure named under an X.4.4 code",
        "5.4.4",
        "Name service error for name=example.org",
        None,
        "networkerror",
    ),
    (
        "no MX under an X.4.4 code",
        "5.4.4",
        "Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)",
        None,
        "notaccept",
    ),
    (
        "a stated cause beats 'in the queue too long'",
        "4.4.1",
        "Sorry, I wasn't able to establish an SMTP connection. I'm not going to try again;"
        " this message has been in the queue too long.",
        None,
        "networkerror",
    ),
    (
        "a vague cause yields to 'in the queue too long'",
        "4.1.9",
        "Resources temporarily unavailable [#4.1.9]. I'm not going to try again;"
        " this message has been in the queue too long.",
        None,
        "expired",
    ),
    (
        "Gmail kept failing to connect",
        "4.4.1",
        "The recipient server did not accept our requests to connect.",
        None,
        "expired",
    ),
    ("a refusal at the greeting is a block", "5.0.0", "550 Rejected", "conn", "blocked"),
    ("relay refused", None, "554 5.7.1 Relay access denied", None, "norelaying"),
    (
        "SES unverified identity is a relay refusal",
        "5.0.0",
        "554 Message rejected: Email address is not verified.",
        None,
        "norelaying",
    ),
    (
        "Google Groups in another language",
        None,
        "Bonjour, le groupe n'existe pas. Merci, Google Groups",
        None,
        "rejected",
    ),
    (
        "an RFC 822 mention is not a compliance complaint",
        "5.5.0",
        "Final-Recipient: RFC822; Action: failed",
        None,
        "syntaxerror",
    ),
    (
        "recipient's preferences under a mailbox code",
        "5.1.1",
        "550 5.1.1 RCP-P2 Refused due to recipient preferences",
        None,
        "filtered",
    ),
    (
        "Orange's recipient account blocked is a suspension",
        "5.5.0",
        "550 5.5.0 Le compte du destinataire est bloque. The recipient account is blocked.",
        None,
        "suspend",
    ),
    (
        "reputation deferral",
        "4.7.0",
        "421 4.7.0 [TSS04] Messages temporarily deferred due to unexpected volume"
        " or user complaints",
        None,
        "badreputation",
    ),
    (
        "a resolver's DNS error is a network error, even for NXDOMAIN",
        "4.0.0",
        "DNS Error: 1234 DNS type 'mx' lookup of example.org responded with code NXDOMAIN"
        " Domain name not found: example.org",
        None,
        "networkerror",
    ),
    (
        "a host never reached is an expiry",
        None,
        "Error, ERROR_CODE :421, ERROR_CODE :, Host not reachable.",
        None,
        "expired",
    ),
    (
        "a block-listed address is the sender's, not the IP's",
        None,
        '"Sorry, you are sending to/from an address that has been blacklisted"',
        None,
        "rejected",
    ),
    (
        "a gateway that serves its registered users only",
        "5.0.0",
        "550 ' is not a registered gateway user",
        None,
        "rejected",
    ),
    (
        "a malformed address is a syntax error",
        None,
        "malformed address: may not follow This address has been ignored.",
        None,
        "syntaxerror",
    ),
    (
        "recipients refused by the remote server, no cause given",
        None,
        "Each of the following recipients was rejected by a remote mail server.",
        None,
        "filtered",
    ),
    ("access denied answering MAIL FROM", "5.7.1", "550 5.7.1 Access denied", "mail", "rejected"),
    (
        "access denied after DATA, once every recipient passed",
        "5.4.1",
        "550 5.4.1 All recipient addresses rejected : Access denied",
        "data",
        "rejected",
    ),
    ("a silent vague code answering MAIL FROM", "5.7.1", "550 5.7.1", "mail", "rejected"),
    (
        "a named cause at MAIL FROM keeps its reason",
        "5.0.0",
        "550 Unauthenticated senders not allowed",
        "mail",
        "securityerror",
    ),
    (
        "SES's own summary yields to the remote reply it quotes",
        "5.7.1",
        "5.1.0 - Unknown address error 550-'5.7.1 ... Access denied' (delivery attempts: 0)",
        None,
        "securityerror",
    ),
    (
        "SES's summary stands when the remote reply states no code",
        "5.3.0",
        "5.3.0 - Other mail system problem 550-'Unknown user' (delivery attempts: 0)",
        None,
        "filtered",
    ),
    (
        "a refused open relay is a block on the sending host",
        None,
        "501 ... no access from mail server [192.0.2.55] which is an open relay.",
        "mail",
        "blocked",
    ),
    ("an insecure relay refusal", None, "550 Insecure Mail Relay", "mail", "norelaying"),
    (
        "relay refusal in a folded Postfix diagnostic",
        "5.7.1",
        "501 Rcpt-To validation failed: RCPT TO not accepted: 5.7.1 This system is not"
        " configured to relay mail (r) from to for 127.0.0.1",
        "rcpt",
        "norelaying",
    ),
    (
        "dynamic addresses are blocked",
        "5.7.1",
        "550 5.7.1 We do not accept dynamic IPs",
        None,
        "blocked",
    ),
    ("an unverified sender", "5.7.1", "550 5.7.1 Unverified sender", None, "rejected"),
    ("content-class code without words", "5.6.9", "550 5.6.9", None, "contenterror"),
    (
        "a mailbox without disk space left is full, not the system",
        "5.0.0",
        "550 Not enough disk space",
        None,
        "mailboxfull",
    ),
    (
        "a list that takes posts from members only refuses the sender",
        None,
        "You are not a member of this mailing list .",
        None,
        "rejected",
    ),
    (
        "a list manager refusing a Message-ID it has seen is its own loop guard",
        None,
        "Duplicated Message-ID in .",
        None,
        "systemerror",
    ),
    (
        "Orange's own error code tells two identical wordings apart (a block)",
        "5.5.0",
        "550 5.5.0 Service refuse. Service refused, please try later. LPN001_108",
        None,
        "blocked",
    ),
    (
        "Orange's own error code tells two identical wordings apart (its own fault)",
        "4.2.0",
        "421 4.2.0 Service refuse. Service refused, please try later. OFR005_505 [505]",
        None,
        "systemerror",
    ),
    (
        "Orange's policy code on a client-host refusal",
        "5.7.1",
        "554 5.7.1 : Client host rejected: #216 lpn LPN000_630",
        None,
        "policyviolation",
    ),
    (
        "RFC 5321's own text for 503",
        "5.0.0",
        "503 5.0.0 Bad sequence of commands",
        None,
        "syntaxerror",
    ),
    ("nothing at all", None, "", None, "undefined"),
    ("a generic code and no words", "5.0.0", "550 5.0.0", None, "onhold"),
]


@pytest.mark.parametrize(
    ("status", "text", "command", "expected"),
    [case[1:] for case in REASONS],
    ids=[case[0] for case in REASONS],
)
def test_decide_reason(status: str | None, text: str, command: str | None, expected: str) -> None:
    assert decide_reason(status, text, command) == expected


@pytest.mark.parametrize(
    ("reason", "status", "hard"),
    [
        ("userunknown", "5.1.1", True),
        ("hostunknown", "5.1.2", True),
        ("hasmoved", "5.1.6", True),
        ("notaccept", "5.1.10", True),
        ("notaccept", "4.0.0", False),  # a temporary null-MX style failure may clear
        ("spamdetected", "5.7.1", False),  # permanent class, but the next message may pass
        ("blocked", "5.7.1", False),
        ("mailboxfull", "5.2.2", False),
        ("filtered", "5.2.1", False),
    ],
)
def test_hard_follows_the_reason(reason: str, status: str, hard: bool) -> None:
    assert is_hard(reason, status) is hard


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("550 5.1.1 <a@b>... User unknown", "5.1.1"),
        # SES quotes the remote reply after its own classification: the remote's code wins.
        ("5.1.0 - Unknown address error 550-'5.7.1 <x>... Access denied'", "5.7.1"),
        ("554 4.4.7 Message expired: unable to deliver <421 4.4.2 Connection timed out>", "4.4.2"),
        # Sendmail's closing "554 5.0.0 Service unavailable" does not displace the remote's code.
        ("<<< 550 5.1.1 User unknown 554 5.0.0 Service unavailable", "5.1.1"),
        ("550 #5.1.0 Address rejected.", "5.1.0"),
        ("Mailer version 8.14.4 said 550 5.0.0 no", "5.0.0"),
        ("version 2.5.10.4 only", None),
    ],
)
def test_find_status(text: str, expected: str | None) -> None:
    assert find_status(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("host x said: 550 User unknown (in reply to RCPT TO command)", "rcpt"),
        ("SMTP error from remote mail server after end of data: 550 nope", "data"),
        ("SMTP error from remote mail server after MAIL FROM:<a> SIZE=1: 550 no", "mail"),
        ("SMTP error from remote mail server after initial connection: 554 go away", "conn"),
        ("Remote host said: 550 5.1.1 User Unknown [RCPT_TO]", "rcpt"),
        ("192.0.2.1 does not like recipient. Remote host said: 550 no", "rcpt"),
        ("Sorry, your envelope sender was rejected: 553 no", "mail"),
        ("550 5.7.1 metadata mismatch", None),
        ("550 5.1.1 User unknown", None),
        # Pieces of addresses and host names are not commands.
        ("rcpt@example.org: 550 mailbox unavailable", None),
        ("host data.example.net said: 550 no such user", None),
        ("mx.helo-world.example: 550 no (in reply to end of DATA command)", "data"),
    ],
)
def test_find_command(text: str, expected: str | None) -> None:
    assert find_command(text) == expected


def test_find_reply_code() -> None:
    assert find_reply_code("550: <x>: User unknown") == "550"
    assert find_reply_code("host 192.0.2.153 said 452 4.3.2 slow") == "452"
    assert find_reply_code("no code here") is None


def test_infer_status_takes_the_class_from_the_reply() -> None:
    assert infer_status("userunknown", "550", False) == "5.1.1"
    assert infer_status("mailboxfull", "452", False) == "4.2.2"
    assert infer_status("expired", None, True) == "4.4.7"
    assert infer_status("onhold", None, False) == "5.0.0"


def test_reason_from_status_reads_rfc3463() -> None:
    assert reason_from_status("5.1.1") == "userunknown"
    assert reason_from_status("5.7.26") == "authfailure"
    assert reason_from_status("5.6.9") == "contenterror"  # unlisted detail: the subject decides
    assert reason_from_status("5.0.0") is None
    assert reason_from_status("2.0.0") is None


def test_a_stated_diagnostic_nobody_reads_is_on_hold() -> None:
    words = "the frobnicator declined"
    assert decide_reason(None, words) == "undefined"  # a notice's own words, no report
    assert decide_reason(None, words, context="") == "onhold"  # a Diagnostic-Code said it
    assert decide_reason(None, "", context="") == "undefined"


def test_reason_from_text_ignores_codes_and_stage() -> None:
    assert reason_from_text("Mailbox full") == "mailboxfull"
    assert reason_from_text("User unknown") == "userunknown"
    assert reason_from_text("") is None


def test_decide_reason_reads_optional_evidence() -> None:
    # A vendor category names the reason when the code is vague.
    assert decide_reason("5.0.0", "550 rejected", category="quota-issues") == "mailboxfull"
    # RFC 3464 X-Unix diagnostic: a local program's exit status.
    assert decide_reason("5.3.0", "77", mailer=True) == "mailererror"
    # A silent diagnostic defers to the notice's own words.
    context = "The address couldn't be found, or is unable to receive mail."
    assert decide_reason("5.0.0", "550 <a@b.example> user unknown", context=context) == (
        "userunknown"
    )
    # A bare "user unknown" yields to a mailbox condition the notice or the Status comment
    # names (Sisimai tests those first); a reason the reply itself names does not.
    opening = "Your message to <nekochan> was automatically rejected:\nNot enough disk space"
    assert decide_reason("5.1.1", "550 5.1.1 User Unknown", notice=opening) == "mailboxfull"
    disabled = "mailbox disabled, not accepting messages"
    assert decide_reason("5.2.1", "550 5.2.1 User Unknown", "rcpt", notice=disabled) == "suspend"
    assert decide_reason("5.2.1", "User Unknown", category="bad-mailbox", notice=disabled) == (
        "suspend"
    )
    assert decide_reason("5.2.1", "User Unknown", category="bad-mailbox") == "userunknown"
    assert decide_reason("5.0.0", "550 Message rejected as spam", notice=opening) == (
        "spamdetected"
    )
    assert decide_reason("5.1.1", "550 5.1.1 User Unknown", notice="Delivery failed.") == (
        "userunknown"
    )
    # A delay that nothing explains has outlived its retries.
    assert decide_reason(None, "", action="delayed") == "expired"
    assert decide_reason(None, "", action="failed") == "undefined"


def test_scrub_keeps_a_urls_host() -> None:
    from postroom.understand.bounces.dialects import scrub

    assert scrub("553 http://www.spamhaus.org/query/bl?ip=192.0.2.1 see a@b.example") == (
        "553 www.spamhaus.org see"
    )
    assert decide_reason("5.1.3", scrub("553 http://www.spamhaus.org/query/bl?ip=1")) == "blocked"


def test_folded_diagnostic_keeps_lines_with_colons() -> None:
    """RFC 5322 folding: a continuation line may hold colons; only a field name ends the value."""
    from postroom.understand.bounces.dsn import parse_delivery_status

    report = parse_delivery_status(
        "Final-Recipient: rfc822; a@example.jp\nAction: failed\nStatus: 5.0.0\n"
        "Diagnostic-Code: X-Postfix; host mx.example.jp[192.0.2.2] said: 501 Rcpt-To\n"
        "    validation failed: RCPT TO not accepted: 5.7.1 This system is not\n"
        "    configured to relay mail\n"
        "    mx.example.jp[192.0.2.2]: said more\n"
        "    /var/mail/a: Disk quota exceeded\n"
        "    Remote-MTA: dns; mx.example.jp\n"
    )
    (group,) = report.recipients
    assert group.diagnostic is not None
    assert "validation failed: RCPT TO not accepted: 5.7.1" in group.diagnostic
    assert "said more" in group.diagnostic and "Disk quota exceeded" in group.diagnostic
    assert group.remote_mta == "mx.example.jp"


def test_sendmail_transcript_cause_sits_above_the_result() -> None:
    """Sendmail writes the remote reply (<<<) above each recipient's result line, and the
    next host's lines (another reply code) below it belong to the next recipient."""
    from postroom.understand.bounces.dialects import find_recipients

    notice = (
        "   ----- Transcript of session follows -----\n"
        "While talking to mx.example.org:\n"
        ">>> MAIL From:<s@example.jp>\n"
        "<<< 501 <s@example.jp>... no access from mail server [192.0.2.55] which is an open"
        " relay.\n"
        "554 <a@example.org>... Remote protocol error\n"
        "550 example.net (smtp)... 550 Host unknown\n"
        "554 <b@example.net>... 550 Host unknown (Authoritative answer from name server)\n"
    )
    found = {r.address: r.diagnostic for r in find_recipients(notice, {"s@example.jp"})}
    assert "no access from mail server" in found["a@example.org"]
    assert "Host unknown" not in found["a@example.org"]
    assert "Host unknown" in found["b@example.net"]
    assert decide_reason(None, found["a@example.org"], find_command(found["a@example.org"])) == (
        "blocked"
    )


def test_a_report_may_name_postmaster_as_its_recipient() -> None:
    """The notice's line about a failed postmaster@ address is read (OpenSMTPD)."""
    from postroom.understand.bounces.dialects import find_contexts

    notice = "An error has occurred:\n\npostmaster@example.org: Domain does not exist\n"
    context = find_contexts(notice, ["postmaster@example.org"])["postmaster@example.org"]
    assert decide_reason("5.0.0", "", context=context) == "hostunknown"


def test_status_comment_is_kept() -> None:
    """RFC 3464 section 2.3.4 Status with a comment: the reporter's words for the code."""
    from postroom.understand.bounces.dsn import parse_delivery_status

    report = parse_delivery_status(
        "Final-Recipient: rfc822;a@example.jp\nAction: failed\n"
        "Status: 5.2.1 (mailbox disabled, not accepting messages)\n"
    )
    (group,) = report.recipients
    assert group.status == "5.2.1"
    assert group.status_comment == "mailbox disabled, not accepting messages"


def test_exim_may_not_follow_names_no_recipient() -> None:
    """Exim's "malformed address: <b> may not follow a" quotes a only to place the error."""
    from postroom.understand.bounces.dialects import find_recipients

    notice = (
        "A message that you sent contained one or more recipient addresses that were\n"
        "incorrectly constructed:\n\n"
        "  a@example.com <b@example.net>: malformed address: <b@example.net> may not follow"
        " a@example.com\n"
    )
    assert [r.address for r in find_recipients(notice, set())] == ["b@example.net"]


def test_list_manager_notice_names_the_list() -> None:
    """fml's own notice (X-MLServer, a ``.FML`` Message-ID) returns a post the list refused."""
    from postroom.understand.bounces import classify_message

    notice = (
        b"From: list-admin@example.org\nTo: s@example.net\n"
        b"Subject: You s@example.net are not member (list ML)\n"
        b"Message-ID: <200504292334.FMLAAAAAA0.list@example.org>\n"
        b"X-MLServer: fml [fml 4.0.3 release (20011202/4.0.3)]\n\n"
        b"You are not a member of this mailing list <list@example.org>.\n\n"
        b"If you know the general guide of this list, please send mail to the address\n\n"
        b"\tlist-ctl@example.org\n"
    )
    got = classify_message(notice)
    assert got.is_bounce
    assert [(r.address, r.reason, r.hard) for r in got.recipients] == [
        ("list@example.org", "rejected", False)
    ]
    # A post the same list manager relays carries no notice Message-ID: it is ordinary mail.
    post = notice.replace(b".FMLAAAAAA0.", b".A1B2C3.").replace(b"Subject: You", b"Subject: Re:")
    assert not classify_message(post).is_bounce
