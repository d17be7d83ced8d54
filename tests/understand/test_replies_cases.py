# ruff: noqa: E501  (the tables hold real one-line headers and HTML, which read best unwrapped)
"""Named hard cases: one row per client convention, written for this table."""

from __future__ import annotations

import base64
import time
from email.message import EmailMessage

import pytest

from postroom.compose.markers import REPLY_ABOVE_MARKER, REPLY_ABOVE_MARKER_HTML
from postroom.understand.replies import (
    ExtractedReply,
    extract_bytes,
    extract_html,
    extract_message,
    extract_text,
)

QUOTE = "\n> Old text we sent.\n> Second line.\n"

# (name, header lines placed between the reply and the quote)
ATTRIBUTIONS = [
    ("english", "On Tue, 3 Mar 2020 at 10:01, Ann Lee <ann@example.com> wrote:"),
    (
        "english_wrapped_2",
        "On Tue, 3 Mar 2020 at 10:01, Ann Lee from Accounts\n<ann@example.com> wrote:",
    ),
    ("english_wrapped_3", "On Tue, 3 Mar 2020 at 10:01, Ann Lee <\nann@example.com>\nwrote:"),
    ("french", "Le mar. 3 mars 2020 à 10:01, Ann Lee <ann@example.com> a écrit :"),
    ("german", "Am 03.03.2020 um 10:01 schrieb Ann Lee <ann@example.com>:"),
    ("german_inbox", "Ann Lee <ann@example.com> schrieb am Di., 3. März 2020\num 10:01 Uhr:"),
    ("spanish", "El mar, 3 mar 2020 a las 10:01, Ann Lee (<ann@example.com>) escribió:"),
    ("italian", "Il giorno mar 3 mar 2020 alle ore 10:01 Ann Lee <ann@example.com>\nha scritto:"),
    ("portuguese", "Em ter., 3 de mar. de 2020 às 10:01, Ann Lee <ann@example.com>\nescreveu:"),
    ("dutch", "Op di 3 mrt. 2020 om 10:01 schreef Ann Lee <ann@example.com>:"),
    ("polish", "W dniu 3.03.2020 o 10:01, Ann Lee <ann@example.com> pisze:\n"),
    ("polish_napisal", "wt., 3 mar 2020 o 10:01 Ann Lee <ann@example.com> napisał(a):"),
    ("swedish", "Den tis 3 mars 2020 kl 10:01 skrev Ann Lee <ann@example.com>:"),
    ("danish", "Den tir. 3. mar. 2020 kl. 10.01 skrev Ann Lee <ann@example.com>:"),
    ("norwegian", "tir. 3. mar. 2020 kl. 10:01 skrev Ann Lee <ann@example.com\n>:"),
    ("finnish", "ti 3. maalisk. 2020 klo 10.01 Ann Lee\n<ann@example.com> kirjoitti:"),
    ("russian", "вт, 3 мар. 2020 г. в 10:01, Ann Lee <ann@example.com>:"),
    ("russian_verb", "3 марта 2020 г., в 10:01, пользователь Ann Lee <\nann@example.com> написал:"),
    ("japanese", "2020年3月3日(火) 10:01 Ann Lee <ann@example.com>:"),
    ("chinese", "Ann Lee <ann@example.com> 于2020年3月3日周二 上午10:01写道："),
    ("korean", "2020년 3월 3일 (화) 오전 10:01, Ann Lee <ann@example.com>님이 작성:"),
    ("gmail_iso", "2020-03-03 10:01 GMT+01:00 Ann Lee <ann@example.com>:"),
    ("dashed", "---- On Tue, 03 Mar 2020 10:01:00 +0100 ann@example.com wrote ----"),
    ("original_message", "-----Original Message-----\nFrom: Ann Lee\nSent: 3 March 2020"),
    ("original_message_de", "-----Ursprüngliche Nachricht-----"),
    ("forwarded", "---------- Forwarded message ---------\nFrom: Ann Lee <ann@example.com>"),
    ("apple_forward", "Begin forwarded message:\n"),
]

OUTLOOK_BLOCKS = [
    (
        "en",
        "From: Ann Lee <ann@example.com>\nSent: Tuesday, March 3, 2020 10:01 AM\nTo: Bob\nSubject: Plan",
    ),
    (
        "en_bold",
        "*From:* Ann Lee [mailto:ann@example.com]\n*Sent:* Tuesday, March 3, 2020\n*To:* Bob",
    ),
    ("en_split_from", "From: Ann Lee\n<a-very-long-address@example.com>\nSent: Tuesday\nTo: Bob"),
    (
        "fr",
        "De : Ann Lee <ann@example.com>\nEnvoyé : mardi 3 mars 2020 10:01\nÀ : Bob\nObjet : Plan",
    ),
    (
        "de",
        "Von: Ann Lee <ann@example.com>\nGesendet: Dienstag, 3. März 2020 10:01\nAn: Bob\nBetreff: Plan",
    ),
    (
        "es",
        "De: Ann Lee <ann@example.com>\nEnviado: martes, 3 de marzo de 2020 10:01\nPara: Bob\nAsunto: Plan",
    ),
    (
        "it",
        "Da: Ann Lee <ann@example.com>\nInviato: martedì 3 marzo 2020 10:01\nA: Bob\nOggetto: Plan",
    ),
    ("pt", "De: Ann Lee <ann@example.com>\nEnviada em: terça-feira\nPara: Bob\nAssunto: Plan"),
    (
        "nl",
        "Van: Ann Lee <ann@example.com>\nVerzonden: dinsdag 3 maart 2020 10:01\nAan: Bob\nOnderwerp: Plan",
    ),
    (
        "pl",
        "Od: Ann Lee <ann@example.com>\nWysłano: wtorek, 3 marca 2020 10:01\nDo: Bob\nTemat: Plan",
    ),
    (
        "sv",
        "Från: Ann Lee <ann@example.com>\nSkickat: den 3 mars 2020 10:01\nTill: Bob\nÄmne: Plan",
    ),
    ("da", "Fra: Ann Lee <ann@example.com>\nSendt: 3. marts 2020 10:01\nTil: Bob\nEmne: Plan"),
    (
        "fi",
        "Lähettäjä: Ann Lee <ann@example.com>\nLähetetty: tiistai 3. maaliskuuta 2020\nVastaanottaja: Bob\nAihe: Plan",
    ),
    (
        "ru",
        "От: Ann Lee <ann@example.com>\nОтправлено: 3 марта 2020 г. 10:01\nКому: Bob\nТема: Plan",
    ),
    (
        "zh",
        "发件人: Ann Lee <ann@example.com>\n发送时间: 2020年3月3日 10:01\n收件人: Bob\n主题: Plan",
    ),
    (
        "ja",
        "差出人: Ann Lee <ann@example.com>\n送信日時: 2020年3月3日 10:01\n宛先: Bob\n件名: Plan",
    ),
    (
        "ko",
        "보낸 사람: Ann Lee <ann@example.com>\n보낸 날짜: 2020년 3월 3일\n받는 사람: Bob\n제목: Plan",
    ),
]


@pytest.mark.parametrize(("name", "header"), ATTRIBUTIONS, ids=[n for n, _ in ATTRIBUTIONS])
def test_attribution_headers_end_the_reply(name: str, header: str) -> None:
    result = extract_text(f"Sounds good, see you then.\n\n{header}\n{QUOTE}")
    assert result.text == "Sounds good, see you then.", name
    assert "Old text" in result.quoted


@pytest.mark.parametrize(("name", "block"), OUTLOOK_BLOCKS, ids=[n for n, _ in OUTLOOK_BLOCKS])
def test_outlook_header_blocks_end_the_reply(name: str, block: str) -> None:
    body = f"Agreed.\n\n________________________________\n{block}\n\nThe original, unquoted.\n"
    result = extract_text(body)
    assert result.text == "Agreed.", name
    assert "The original, unquoted." in result.quoted


def test_header_sharing_a_line_with_the_reply_is_split_off() -> None:
    result = extract_text("fine by me On Wed, Apr 4, 2012 at 3:59 PM, bob@example.com wrote:\n> Hi")
    assert result.text == "fine by me"


def test_quoted_lines_that_lost_their_marker_stay_quoted() -> None:
    body = (
        "Noted, thanks.\n\nOn Tue, 3 Mar 2020 at 10:01, Ann <ann@example.com> wrote:\n"
        "> This is a long quoted line which the client wrapped at seventy two cha\n"
        "racters and lost its marker\n"
        "> View the ticket (http://example.com/tickets/12345?action\n"
        "_nonce=3dd518)\n"
        "> end\n"
        "\nRegards, Ann\n"
    )
    result = extract_text(body)
    assert result.text == "Noted, thanks."
    assert result.signature == "Regards, Ann"
    assert "racters" not in result.reply and "_nonce" not in result.reply


def test_text_between_long_quotes_is_kept_when_it_is_an_answer() -> None:
    body = "> Can you come on Monday?\nyes\n> And bring the slides?\nno, sorry\n"
    assert extract_text(body).text == body.strip()


def test_interleaved_reply_keeps_the_quoted_context() -> None:
    body = (
        "On Tue, 3 Mar 2020 at 10:01, Ann <ann@example.com> wrote:\n"
        "> Can you come on Monday?\n"
        "Yes, at ten.\n"
        "> And bring the slides?\n"
        "I will.\n"
        "> Thanks, Ann\n"
    )
    result = extract_text(body)
    assert result.text == (
        "> Can you come on Monday?\nYes, at ten.\n> And bring the slides?\nI will."
    )
    assert "wrote:" in result.quoted and "Thanks, Ann" in result.quoted


def test_bottom_posted_reply_is_the_text_under_the_quote() -> None:
    body = "On 04/19/2011 07:10 AM, Ann wrote:\n\n> Question?\n> More.\n\nThe answer.\n"
    assert extract_text(body).text == "The answer."


def test_nested_quotes_all_go() -> None:
    body = "Top.\n\n> one\n>> two\n>>> three\n> > four\n"
    result = extract_text(body)
    assert result.text == "Top."
    assert ">>> three" in result.quoted


@pytest.mark.parametrize(
    ("body", "text", "signature"),
    [
        ("Hi.\n\n-- \nAnn Lee\nExample Ltd", "Hi.", "-- \nAnn Lee\nExample Ltd"),
        ("Hi.\n\nSent from my iPhone", "Hi.", "Sent from my iPhone"),
        ("Hi.\n\nEnvoyé de mon iPhone", "Hi.", "Envoyé de mon iPhone"),
        ("Hi.\n\nVon meinem iPhone gesendet", "Hi.", "Von meinem iPhone gesendet"),
        ("Hi.\n\nGet Outlook for Android", "Hi.", "Get Outlook for Android"),
        ("Hi there.\n\nThanks,\nAnn", "Hi there.", "Thanks,\nAnn"),
        (
            "Hi there.\n\nMit freundlichen Grüßen\n\nAnn Lee",
            "Hi there.",
            "Mit freundlichen Grüßen\n\nAnn Lee",
        ),
        ("Hi there.\n\n-Ann", "Hi there.", "-Ann"),
        ("Thanks,\nAnn", "Thanks,\nAnn", None),
        (
            "Hi.\n--> not a signature\n--> still not",
            "Hi.\n--> not a signature\n--> still not",
            None,
        ),
    ],
)
def test_signatures_are_reported_apart(body: str, text: str, signature: str | None) -> None:
    result = extract_text(body)
    assert result.text == text
    assert result.signature == signature
    if signature is not None:
        assert result.reply.endswith(signature)


def test_our_marker_is_the_strongest_signal() -> None:
    body = (
        "From: this line looks like a header but is the person's\nTo: text\n\n"
        f"On Mon, 2 Mar 2020, Support <s@example.com> wrote:\n> {REPLY_ABOVE_MARKER}\n> old\n"
    )
    result = extract_text(body)
    assert result.text.startswith("From: this line")
    assert REPLY_ABOVE_MARKER not in result.reply


def test_marker_in_html_is_recognised() -> None:
    html = f"<div>Yes please.</div><blockquote>{REPLY_ABOVE_MARKER_HTML}<p>old</p></blockquote>"
    result = extract_html(html)
    assert result.text == "Yes please."


def test_stripping_to_nothing_returns_the_whole_input() -> None:
    body = "> only a quote\n> and nothing else"
    result = extract_text(body)
    assert result.reply == body and result.quoted == ""


def test_a_bare_forward_means_the_person_wrote_nothing() -> None:
    body = "---------- Forwarded message ---------\nFrom: Ann <a@example.com>\nSubject: x\n\nBody"
    result = extract_text(body)
    assert result.reply == "" and "Body" in result.quoted


def test_prose_with_colons_and_dates_is_not_a_header() -> None:
    body = "Meeting moved:\nDate: Friday\nTime: 10:00\nOn Monday I wrote the plan.\nAs Ann wrote:"
    assert extract_text(body).text == body


HTML_CLIENTS = [
    (
        "gmail",
        '<div dir="ltr">Works.</div><div class="gmail_quote"><div class="gmail_attr">On Tue, Ann &lt;a@example.com&gt; wrote:</div><blockquote class="gmail_quote">old</blockquote></div>',
    ),
    (
        "outlook_desktop",
        '<div class="WordSection1"><p class="MsoNormal">Works.</p><div style="border:none;border-top:solid #E1E1E1 1.0pt"><p class="MsoNormal"><b>From:</b> Ann<br><b>Sent:</b> Tuesday<br><b>To:</b> Bob<br><b>Subject:</b> x</p></div><p>old</p></div>',
    ),
    (
        "outlook_web",
        '<div>Works.</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Ann<br><b>Sent:</b> Tuesday</div><div>old</div>',
    ),
    (
        "apple",
        '<div>Works.</div><div><br><blockquote type="cite"><div>On 3 Mar 2020, at 10:01, Ann &lt;a@example.com&gt; wrote:</div><div>old</div></blockquote></div>',
    ),
    (
        "yahoo",
        '<div>Works.</div><div class="yahoo_quoted"><div>On Tuesday, Ann wrote:</div><div>old</div></div>',
    ),
    (
        "thunderbird",
        '<p>Works.</p><div class="moz-cite-prefix">On 03/03/2020 10:01, Ann wrote:<br></div><blockquote type="cite">old</blockquote>',
    ),
    (
        "proton",
        '<div>Works.</div><div class="protonmail_quote">------- Original Message -------<br>old</div>',
    ),
    (
        "zimbra",
        '<div>Works.</div><hr id="zwchr" data-marker="__DIVIDER__"><div data-marker="__HEADERS__"><b>From: </b>Ann</div><div data-marker="__QUOTED_TEXT__">old</div>',
    ),
]


@pytest.mark.parametrize(("name", "html"), HTML_CLIENTS, ids=[n for n, _ in HTML_CLIENTS])
def test_html_clients(name: str, html: str) -> None:
    result = extract_html(html)
    assert result.text == "Works.", name
    assert result.html is not None and "Works." in result.html and "old" not in result.html
    assert "old" in result.quoted


def test_html_keeps_paragraphs_lists_and_links() -> None:
    html = (
        '<p>First.</p><p>Second <a href="https://example.com/x">here</a>.</p>'
        "<ul><li>one</li><li>two</li></ul><script>alert(1)</script>"
    )
    result = extract_html(html)
    assert result.text == "First.\n\nSecond here <https://example.com/x>.\n\n- one\n- two"
    assert result.html is not None
    assert "<script" not in result.html and 'href="https://example.com/x"' in result.html


def test_gmail_quote_button_blockquote_is_the_persons_formatting() -> None:
    result = extract_html('Look:<blockquote class="gmail_quote">a famous line</blockquote>')
    assert "a famous line" in result.text


def _message(plain: str | None, html: str | None, charset: str = "utf-8") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "ann@example.com"
    message["Subject"] = "Re: plan"
    if plain is not None:
        message.set_content(plain, charset=charset)
    if html is not None:
        if plain is None:
            message.set_content(html, subtype="html", charset=charset)
        else:
            message.add_alternative(html, subtype="html", charset=charset)
    return message


def test_message_prefers_plain_and_decodes_charsets() -> None:
    message = _message(
        "Grüße aus Köln.\n\nAm 03.03.2020 um 10:01 schrieb Ann <a@example.com>:\n> alt\n",
        "<p>Grüße aus Köln.</p>",
        charset="iso-8859-1",
    )
    result = extract_message(message)
    assert result.text == "Grüße aus Köln."
    assert result.html is not None and "Köln" in result.html


def test_message_uses_html_when_only_html_shows_the_quote() -> None:
    message = _message(
        "New text.\nold text",
        '<div>New text.</div><div class="gmail_quote">old text</div>',
    )
    assert extract_message(message).text == "New text."


def test_message_with_broken_charset_never_raises() -> None:
    raw = (
        b"From: a@example.com\nSubject: x\nContent-Type: text/plain; charset=x-unknown\n"
        b"Content-Transfer-Encoding: base64\n\n!!!not base64\xff\n"
    )
    assert isinstance(extract_bytes(raw), ExtractedReply)


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        # White space around the encoding's name is allowed (RFC 5322 folding white space).
        (
            "base64 ",
            base64.encodebytes(
                b"Thanks, I'll be there.\n\nOn Mon, Bob <b@example.com> wrote:\n> Coming?\n"
            ).decode(),
        ),
        # RFC 2045 section 6.7 (3): spaces a transport added after a soft line break go.
        (
            "quoted-printable",
            "Thanks, I'll be there.\n\nOn Mon, Bob <b@example.com> wr=  \note:\n> Coming?\n",
        ),
    ],
)
def test_bodies_decode_despite_white_space_added_in_transport(encoding: str, body: str) -> None:
    raw = (
        "From: a@example.com\nSubject: Re: Coming?\nContent-Type: text/plain; charset=utf-8\n"
        f"Content-Transfer-Encoding: {encoding}\n\n{body}"
    ).encode()
    assert extract_bytes(raw).text == "Thanks, I'll be there."


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"Subject: hi\nFrom: a@example.com\n\nHello\n\nOn Tue, 3 Mar 2020, B <b@example.com> wrote:\n> x\n",
            "Hello",
        ),
        (b'<div>Hello</div><div class="gmail_quote">x</div>', "Hello"),
        (b"Hello\n\n-----Original Message-----\nx", "Hello"),
        (b"Note: this is text, not headers.\nHello", "Note: this is text, not headers.\nHello"),
    ],
)
def test_extract_bytes_sniffs_message_html_or_text(data: bytes, expected: str) -> None:
    assert extract_bytes(data).text == expected


def test_to_json_matches_the_cli_contract() -> None:
    result = extract_text("Hi\n\n-- \nAnn\n\nOn 2020-03-03, Bob <b@example.com> wrote:\n> x")
    assert result.to_json() == {
        "reply": "Hi\n\n-- \nAnn",
        "signature": "-- \nAnn",
        "quoted": result.quoted,
    }


PATHOLOGICAL = [
    ("one_long_line", "x" * 2_000_000),
    ("many_headers", "On 2012 x wrote:\n" * 120_000),
    ("many_colons", "a:\n" * 666_000),
    ("many_fields", "From: a\n" * 250_000),
    ("many_rules", "-- \n" * 500_000),
    ("deep_quotes", ">" * 2_000_000),
    ("long_quoted_lines", ("> " + "b" * 70 + "\n") * 28_000),
    ("at_signs", "a@" * 1_000_000),
    ("html_deep_nesting", "<div>" * 400_000),
    ("html_many_blockquotes", '<blockquote type="cite">' * 50_000 + "x"),
    ("html_many_brs", "<br>" * 500_000),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "body"), PATHOLOGICAL, ids=[n for n, _ in PATHOLOGICAL])
def test_two_megabyte_pathological_bodies_take_under_a_second(name: str, body: str) -> None:
    extract = extract_html if body.startswith("<") else extract_text
    started = time.perf_counter()
    extract(body)
    assert time.perf_counter() - started < 1.0, name
