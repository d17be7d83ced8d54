# ruff: noqa: E501  (documented texts are quoted whole, one per row)
"""Texts that BOUNCE-CODES.md documents, each with the reason its source gives it.

Vendors' published error texts (sections C-H) and MTAs' stock texts (section I), reported
under a generic status (X.0.0 or 4.0.0) so that the words alone must name the reason: the
class of miss where a generic code left the reason to onhold.
"""

from __future__ import annotations

import pytest

from postroom.understand.bounces import classify_message

# (status the report states, diagnostic text as documented, reason).
DOCUMENTED: tuple[tuple[str, str, str], ...] = (
    ("5.0.0", "550 5.1.1 The email account that you tried to reach does not exist", "userunknown"),
    ("5.0.0", "553 5.1.2 We weren't able to find the recipient domain", "hostunknown"),
    ("5.0.0", "550 5.2.1 The email account that you tried to reach is inactive", "suspend"),
    (
        "4.0.0",
        "450 4.2.1 The user you are trying to contact is receiving mail too quickly",
        "speeding",
    ),
    ("5.0.0", "550 5.4.5 Daily user sending limit exceeded", "speeding"),
    ("4.0.0", "452 4.2.2 The recipient's inbox is out of storage space", "mailboxfull"),
    ("5.0.0", "552 5.3.4 Your message exceeded Google's message size limits", "mesgtoobig"),
    ("4.0.0", "421 4.3.0 Temporary System Problem. Try again later", "systemerror"),
    ("4.0.0", "451 4.4.2 Timeout - closing connection", "expired"),
    ("4.0.0", "421 4.7.0 IP not in whitelist for RCPT domain, closing connection", "blocked"),
    (
        "5.0.0",
        "550 5.7.25 The IP address sending this message does not have a PTR record setup",
        "requireptr",
    ),
    (
        "4.0.0",
        "421 4.7.0 This message is suspicious due to the very low reputation of the sending IP address",
        "badreputation",
    ),
    (
        "5.0.0",
        "550 5.7.1 Our system has detected that this message is likely unsolicited mail",
        "spamdetected",
    ),
    (
        "5.0.0",
        "550 5.7.28 There is an unusual rate of unsolicited mail originating from your IP address",
        "blocked",
    ),
    (
        "5.0.0",
        "550 5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy",
        "authfailure",
    ),
    ("4.0.0", "421 4.7.0 TLS required for RCPT domain, closing connection", "failedstarttls"),
    (
        "5.0.0",
        "550 5.7.1 The user or domain that you are sending to (or from) has a policy that prohibits the email that you sent",
        "policyviolation",
    ),
    (
        "5.0.0",
        "550 5.7.1 Messages missing a valid Message-ID header are not accepted",
        "notcompliantrfc",
    ),
    ("5.0.0", "550 5.7.0 Email relay denied", "norelaying"),
    ("5.0.0", "554 5.4.6 Message exceeded 50 hops, this may indicate a mail loop", "networkerror"),
    (
        "4.0.0",
        "452 4.5.3 Domain policy size per transaction exceeded, please try this recipient in a separate transaction",
        "toomanyconn",
    ),
    ("5.0.0", "535 5.7.8 Username and Password not accepted", "securityerror"),
    ("5.0.0", "554 delivery error: dd This user doesn't have a yahoo.com account", "userunknown"),
    (
        "5.0.0",
        "554 delivery error: dd Sorry your message to x cannot be delivered. This mailbox is disabled (554.30)",
        "suspend",
    ),
    (
        "5.0.0",
        "553 5.7.2 [TSS09] All messages from 192.0.2.1 will be permanently deferred; Retrying will NOT succeed",
        "blocked",
    ),
    (
        "5.0.0",
        "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.1, because the ip is in Spamhaus's list",
        "blocked",
    ),
    (
        "5.0.0",
        "550 5.7.9 This mail has been blocked because the sender is unauthenticated. Yahoo requires all senders to authenticate with either SPF or DKIM",
        "authfailure",
    ),
    ("5.0.0", "554 5.7.9 Message not accepted for policy reasons", "policyviolation"),
    ("4.0.0", "450 User is receiving mail too quickly", "speeding"),
    (
        "4.0.0",
        "421 Max message per connection reached, closing transmission channel",
        "toomanyconn",
    ),
    ("5.0.0", "550 5.1.1 user does not exist", "userunknown"),
    ("5.0.0", "550 5.1.6 recipient no longer on server", "hasmoved"),
    ("5.0.0", "552 5.2.2 user is over quota", "mailboxfull"),
    ("4.0.0", "421 Too many sessions opened", "toomanyconn"),
    ("4.0.0", "421 Reverse DNS failure : Try again later", "requireptr"),
    (
        "5.0.0",
        "550 Requested action not taken: mailbox unavailable (in reply to RCPT TO command)",
        "userunknown",
    ),
    ("4.0.0", "421 Rate limit reached", "speeding"),
    ("5.0.0", "554-IP address is block listed", "blocked"),
    ("5.0.0", "550 spam detected", "spamdetected"),
    ("5.0.0", "550 No such user (in reply to RCPT TO command)", "userunknown"),
    ("5.0.0", "550 Message rejected under suspicion of SPAM", "spamdetected"),
    ("5.0.0", "552 Mailbox size limit exceeded", "mailboxfull"),
    ("5.0.0", "554 Message infected by virus", "virusdetected"),
    ("5.0.0", "550 User not found (in reply to RCPT TO command)", "userunknown"),
    ("5.0.0", "552 User quota exceeded", "mailboxfull"),
    ("5.0.0", "550 spam message rejected", "spamdetected"),
    ("5.0.0", "550 Mailbox not found (in reply to RCPT TO command)", "userunknown"),
    ("5.0.0", "550 Ip frequency limited", "toomanyconn"),
    ("5.0.0", "550 Mail content denied", "spamdetected"),
    ("5.0.0", "550 Suspected spam ip", "blocked"),
    ("5.0.0", "550 SPF check failed", "authfailure"),
    ("5.0.0", "550 is a deactivated mailbox", "suspend"),
    ("5.0.0", "552 5.7.1 virus detected by Zoho Mail", "virusdetected"),
    (
        "5.0.0",
        "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
        "blocked",
    ),
    ("5.0.0", "550 5.7.0 Local Policy Violation", "policyviolation"),
    ("5.0.0", "554 5.7.0 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1", "blocked"),
    ("5.0.0", "550 Invalid Recipient (in reply to RCPT TO command)", "userunknown"),
    ("5.0.0", "550 SPF/DKIM/DMARC Sender Invalid - envelope rejected", "authfailure"),
    ("5.0.0", "550 Local CT IP Reputation - (reject)", "badreputation"),
    ("5.0.0", "550 Administrative prohibition envelope blocked", "rejected"),
    ("5.0.0", "554 Email rejected due to security policies", "virusdetected"),
    ("5.0.0", "554 Maximum email size exceeded", "mesgtoobig"),
    ("5.0.0", "550 This route requires encryption (TLS)", "failedstarttls"),
    ("5.0.0", "550 Open relay not allowed", "norelaying"),
    (
        "5.0.0",
        "554 Your access to this mail system has been rejected due to the sending MTA's poor reputation",
        "badreputation",
    ),
    ("5.0.0", "550 #5.7.1 SPF unauthorized mail is prohibited", "authfailure"),
    ("5.0.0", "550 blocked using Trend Micro RBL+", "blocked"),
    ("5.0.0", "553-SPF domain authentication fail", "authfailure"),
    ("5.0.0", "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", "userunknown"),
    (
        "5.0.0",
        "552 5.2.3 RESOLVER.RST.RecipSizeLimit; message too large for this recipient",
        "exceedlimit",
    ),
    ("4.0.0", "432 4.3.2 STOREDRV.Deliver; recipient thread limit exceeded", "speeding"),
    ("5.0.0", "550 5.4.300 Message expired", "expired"),
    ("5.0.0", "550 5.4.4 SMTPSEND.DNS.NonExistentDomain; nonexistent domain", "hostunknown"),
    ("5.0.0", "554 5.4.14 Hop count exceeded - possible mail loop", "networkerror"),
    ("4.0.0", "451 4.4.1 Connection timed out", "expired"),
    ("5.0.0", "550 5.7.1 Delivery not authorized, message refused", "rejected"),
    ("5.0.0", "550 5.7.1 Unable to relay", "norelaying"),
    (
        "5.0.0",
        "530 5.7.57 Client not authenticated to send anonymous mail during MAIL FROM",
        "securityerror",
    ),
    (
        "5.0.0",
        "550 5.7.509 Access denied, sending domain does not pass DMARC verification",
        "authfailure",
    ),
    ("5.0.0", "550 5.7.606 Access denied, banned sending IP [192.0.2.1]", "blocked"),
    ("5.0.0", "550 5.7.700 Access denied, the sending IP has exceeded threshold", "speeding"),
    (
        "5.0.0",
        "550 5.1.90 Your message can't be sent because you've reached your daily limit for message recipients",
        "speeding",
    ),
    ("5.0.0", "550 SC-001 Mail rejected by Outlook.com for policy reasons", "blocked"),
    ("5.0.0", "Unrouteable address", "hostunknown"),
    ("5.0.0", "all relevant MX records point to non-existent hosts", "hostunknown"),
    ("5.0.0", "mailbox is full (quota exceeded while writing to file /var/mail/x)", "mailboxfull"),
    ("5.0.0", 'Too many "Received" headers - suspected mail loop', "contenterror"),
    ("5.0.0", "Sorry, no mailbox here by that name. (#5.1.1)", "userunknown"),
    ("5.0.0", "Sorry, I couldn't find any host named example.org. (#5.1.2)", "hostunknown"),
    (
        "5.0.0",
        "This message is looping: it already has my Delivered-To line. (#5.4.6)",
        "systemerror",
    ),
    (
        "5.0.0",
        "Sorry. Although I'm listed as a best-preference MX or A for that host, it isn't in my control/locals file, so I don't treat it as local. (#5.4.6)",
        "systemerror",
    ),
    ("5.0.0", "Mailaddress is administratively disabled. (#5.2.1)", "suspend"),
    ("5.0.0", "Envelope expired", "expired"),
    ("5.0.0", "Domain does not exist", "hostunknown"),
    ("5.0.0", "No MX found for domain", "notaccept"),
    ("5.0.0", "Destination seem to reject all mails", "notaccept"),
    ("5.0.0", "Loop detected", "networkerror"),
    ("5.0.0", "Too many failures (Connection refused)", "expired"),
    ("5.0.0", "No Such Domain", "hostunknown"),
    ("5.0.0", "not listed in Domino Directory", "userunknown"),
    ("5.0.0", "Cannot route mail to user", "filtered"),
    ("5.0.0", "Several matches found in Domino Directory", "systemerror"),
    ("5.0.0", "User mailbox exceeds allowed size", "mailboxfull"),
    ("5.0.0", "No such domain.", "hostunknown"),
    ("5.0.0", "DNS lookup failed.", "networkerror"),
    ("5.0.0", "This domain's DNS violates RFC 1035.", "systemerror"),
    ("5.0.0", "mail for example.org loops back to myself", "systemerror"),
    ("5.0.0", "Recipient address rejected: Domain not found", "hostunknown"),
    ("5.0.0", "Client host rejected: cannot find your hostname", "requireptr"),
    ("5.0.0", "Sender address rejected: Domain not found", "rejected"),
    ("5.0.0", "Message size exceeds fixed limit", "mesgtoobig"),
    ("5.0.0", "Command died with status 1", "mailererror"),
    (
        "5.0.0",
        "550 5.7.1 Recipient address rejected: Message rejected due to: SPF fail - not authorized",
        "authfailure",
    ),
    ("5.0.0", "421 HL:ICC connection limit", "toomanyconn"),
)


def report(status: str, text: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.net\nTo: s@example.com\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n"
        "--B\nContent-Type: text/plain\n\nDelivery failed.\n\n"
        "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        f"Final-Recipient: rfc822; r@example.org\nAction: failed\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; {text}\n\n--B--\n"
    ).encode()


@pytest.mark.parametrize(("status", "text", "reason"), DOCUMENTED)
def test_documented_text_names_its_reason(status: str, text: str, reason: str) -> None:
    (rcpt,) = classify_message(report(status, text)).recipients
    assert rcpt.reason == reason, text
