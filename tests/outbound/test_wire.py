"""The wire format: replies split into lines and codes (RFC 5321 4.2, RFC 2034), and the
content's dot-stuffing (RFC 5321 4.5.2)."""

from __future__ import annotations

import pytest

from postroom.errors import ProtocolError
from postroom.outbound.capabilities import parse_capabilities
from postroom.outbound.types import EnhancedStatus, Reply
from postroom.outbound.wire import MAX_LINE, ReplyReader, build_mail, build_rcpt, stuff_message

# Postfix's own answers (smtpd.c) and Gmail's (support.google.com/a/answer/3726730).
POSTFIX_EHLO = (
    b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
    b"250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
)
GMAIL_LIMIT = (
    b"550-5.4.5 Daily user sending limit exceeded. For more information on Gmail\r\n"
    b"550-5.4.5 sending limits go to\r\n"
    b"550 5.4.5  https://support.google.com/a/answer/166852 a1-20020a.123 - gsmtp\r\n"
)


def read_all(*chunks: bytes) -> list[Reply]:
    reader = ReplyReader()
    replies: list[Reply] = []
    for chunk in chunks:
        reader.feed(chunk)
        while (reply := reader.next_reply()) is not None:
            replies.append(reply)
    return replies


def test_single_line_reply_with_enhanced_code() -> None:
    [reply] = read_all(b"250 2.1.5 Ok\r\n")
    assert reply == Reply(250, EnhancedStatus(2, 1, 5), "Ok")
    assert reply.is_success and str(reply) == "250 2.1.5 Ok"


def test_multiline_reply_keeps_every_line_without_codes() -> None:
    [reply] = read_all(GMAIL_LIMIT)
    assert reply.code == 550
    assert str(reply.enhanced) == "5.4.5"
    assert reply.lines == (
        "Daily user sending limit exceeded. For more information on Gmail",
        "sending limits go to",
        " https://support.google.com/a/answer/166852 a1-20020a.123 - gsmtp",
    )


def test_reply_split_at_every_byte_reads_the_same() -> None:
    stream = b"220 mail.example.test ESMTP\r\n" + POSTFIX_EHLO + GMAIL_LIMIT
    whole = read_all(stream)
    split = read_all(*(stream[i : i + 1] for i in range(len(stream))))
    assert split == whole and len(whole) == 3


def test_several_pipelined_replies_in_one_chunk_come_out_in_order() -> None:
    replies = read_all(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
    assert [r.code for r in replies] == [250, 250, 354]
    assert replies[2].enhanced is None


def test_bare_lf_line_end_and_code_alone_are_accepted() -> None:
    assert read_all(b"250\n") == [Reply(250, None, "")]


def test_enhanced_code_of_another_class_is_plain_text() -> None:
    # RFC 2034 section 4: the enhanced class equals the reply's first digit.
    [reply] = read_all(b"250 5.1.1 looks like a code\r\n")
    assert reply.enhanced is None and reply.text == "5.1.1 looks like a code"


def test_utf8_text_is_decoded_and_bad_bytes_replaced() -> None:
    [reply] = read_all("550 5.1.1 Адрес не найден\r\n".encode())
    assert reply.text == "Адрес не найден"
    assert read_all(b"550 5.1.1 \xff\r\n")[0].text == "\ufffd"


@pytest.mark.parametrize(
    "garbage",
    [
        b"HTTP/1.1 400 Bad Request\r\n",
        b"25\r\n",
        b"2500 too long a code\r\n",
        b"250x\r\n",
        b"150 not an SMTP class\r\n",
        b"620 not an SMTP class\r\n",
        b"\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\n",  # a TLS ClientHello where SMTP was expected
    ],
)
def test_garbage_raises_a_protocol_error_naming_the_line(garbage: bytes) -> None:
    with pytest.raises(ProtocolError, match="not an SMTP reply"):
        read_all(garbage)


def test_multiline_reply_mixing_codes_is_refused() -> None:
    with pytest.raises(ProtocolError, match="mixes codes 250 and 251"):
        read_all(b"250-first\r\n251 second\r\n")


def test_endless_line_is_refused_without_waiting_for_its_end() -> None:
    with pytest.raises(ProtocolError, match="longer than"):
        read_all(b"250 " + b"x" * (MAX_LINE + 10))


def test_incomplete_reply_waits_for_more() -> None:
    reader = ReplyReader()
    reader.feed(b"250-PIPELINING\r\n250 SI")
    assert reader.next_reply() is None
    assert reader.buffered == len(b"250-PIPELINING\r\n250 SI")
    reader.feed(b"ZE 100\r\n")
    reply = reader.next_reply()
    assert reply is not None and reply.lines == ("PIPELINING", "SIZE 100")
    assert reader.buffered == 0


def test_capabilities_of_a_postfix_ehlo() -> None:
    [reply] = read_all(POSTFIX_EHLO)
    caps = parse_capabilities(reply)
    assert caps.esmtp and caps.pipelining and caps.starttls and caps.smtputf8
    assert caps.eightbitmime and caps.enhanced_status_codes and caps.dsn and caps.chunking
    assert caps.size and caps.size_limit == 10240000
    assert caps.auth_mechanisms == frozenset({"PLAIN", "LOGIN"})
    assert caps.offers("vrfy") and not caps.offers("XCLIENT")
    assert caps.describe() == (
        "PIPELINING, SIZE 10240000, SMTPUTF8, 8BITMIME, STARTTLS, AUTH LOGIN PLAIN, "
        "ENHANCEDSTATUSCODES, DSN, CHUNKING"
    )


def test_size_zero_means_no_fixed_limit_and_old_auth_form_counts() -> None:
    # RFC 1870 section 4: "SIZE 0" declares no fixed maximum.
    [reply] = read_all(b"250-x\r\n250-size 0\r\n250 AUTH=LOGIN\r\n")
    caps = parse_capabilities(reply)
    assert caps.size and caps.size_limit is None
    assert caps.auth_mechanisms == frozenset({"LOGIN"}) and not caps.pipelining


@pytest.mark.parametrize(
    ("content", "wire"),
    [
        (b"Subject: x\r\n\r\nhello\r\n", b"Subject: x\r\n\r\nhello\r\n.\r\n"),
        (b".starts with a dot\r\n", b"..starts with a dot\r\n.\r\n"),
        (b"a\r\n.\r\nb\r\n..c\r\n", b"a\r\n..\r\nb\r\n...c\r\n.\r\n"),
        (b"no final line end", b"no final line end\r\n.\r\n"),
        (b"", b".\r\n"),
        # Bare line ends cannot smuggle an end of data past a lenient server.
        (b"a\n.\nb\r\n", b"a\n..\nb\r\n.\r\n"),
        (b"a\r.\rb\r\n", b"a\r..\rb\r\n.\r\n"),
    ],
)
def test_dot_stuffing(content: bytes, wire: bytes) -> None:
    assert stuff_message(content) == wire


def test_envelope_commands() -> None:
    assert build_mail("") == b"MAIL FROM:<>\r\n"
    assert build_mail("a@x.test", ("SIZE=10", "BODY=8BITMIME")) == (
        b"MAIL FROM:<a@x.test> SIZE=10 BODY=8BITMIME\r\n"
    )
    assert build_rcpt("ü@x.test") == "RCPT TO:<ü@x.test>\r\n".encode()
