"""Property tests: mangled DSNs and MIME never make the classifier raise."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postroom.understand.bounces import Classification, MessageKind, classify_message

FIELDS = st.sampled_from(
    [
        "Final-Recipient: rfc822; {a}",
        "Original-Recipient: {a}",
        "Action: {w}",
        "Status: {w}",
        "Diagnostic-Code: smtp; {w}",
        "Remote-MTA: dns; {w}",
        "Reporting-MTA: dsn;",
        'Content-Type: multipart/report; boundary="{w}"',
        "Content-Type: message/rfc822",
        "Content-Transfer-Encoding: base64",
        "Content-Transfer-Encoding: quoted-printable",
        "Content-Type: text/plain; charset={w}",
        "--{w}",
        "--{w}--",
        "Subject: =?{w}?B?{w}?=",
        "From: MAILER-DAEMON@{w}",
        "Message-ID: <{w}",
        "Feedback-Type: {w}",
        "Content-Type: message/feedback-report",
        "Content-Type: message/delivery-status",
        "Content-Type: message/disposition-notification",
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="{w}"',
        "Disposition: {w}",
        "Disposition: automatic-action/MDN-sent-automatically; {w}",
        "Original-Message-ID: {w}",
        "Auto-Submitted: {w}",
        "Precedence: {w}",
        "List-Post: <mailto:{a}>",
        "Subject: Re: {w}",
        "> {w}",
        "",
    ]
)
WORDS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@st.composite
def mangled_reports(draw: st.DrawFn) -> bytes:
    """Report-shaped lines with random values, random line ends and random raw bytes."""
    lines = []
    for template in draw(st.lists(FIELDS, max_size=40)):
        lines.append(template.format(a=draw(WORDS) + "@" + draw(WORDS), w=draw(WORDS)))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    data = eol.join(lines).encode("utf-8", "surrogatepass")
    junk = draw(st.binary(max_size=64))
    at = draw(st.integers(min_value=0, max_value=len(data)))
    return data[:at] + junk + data[at:]


def check(got: Classification) -> None:
    assert isinstance(got, Classification)
    assert isinstance(got.kind, MessageKind)
    for rcpt in got.recipients:
        assert isinstance(rcpt.address, str) and isinstance(rcpt.reason, str)
    got.to_json()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled_reports())
def test_mangled_reports_never_raise(data: bytes) -> None:
    check(classify_message(data))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    check(classify_message(data))


@settings(max_examples=100, deadline=None)
@given(mangled_reports())
def test_line_ends_do_not_change_the_verdict(data: bytes) -> None:
    lf = data.replace(b"\r\n", b"\n")
    assert classify_message(lf.replace(b"\n", b"\r\n")) == classify_message(lf)
