# ruff: noqa: E501  (real one-line attributions read best unwrapped)
"""Reply rules that encode documented meanings: RFC 3676 flowed text, client attribution
templates per locale, taglines, closings, contact cards, list footers, our marker.

The hand-made cases follow the templates of ../shared/docs/REPLY-FORMATS.md for clients that
cannot run here (Gmail, Outlook, Apple Mail, Thunderbird); the real clients that can run are in
test_realclients.py.
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from tests.understand.test_replies_corpus import corpora_root, is_exact, load_cases, run_case

from postroom.compose.markers import REPLY_ABOVE_MARKER
from postroom.understand.replies import extract_bytes, extract_message, extract_text
from postroom.understand.replies.attribution import Strength, match_attribution, matchers
from postroom.understand.replies.flowed import decode_flowed

QUOTE = "> Who can bring a projector?\n> We need one on Friday.\n"


# --- RFC 3676 -------------------------------------------------------------------------------


def test_flowed_soft_breaks_join_and_fixed_lines_stay() -> None:
    body = "I can bring \nthe projector.\nSee you.\n"
    assert decode_flowed(body) == "I can bring the projector.\nSee you.\n"


def test_flowed_delsp_deletes_the_marking_space() -> None:
    assert decode_flowed("日本語の \n文章です。\n", delsp=True) == "日本語の文章です。\n"


def test_flowed_quote_depth_and_space_stuffing() -> None:
    body = "> quoted \n> on.\n>> deeper \n> not joined across depths\n From here\n"
    assert decode_flowed(body) == (
        "> quoted on.\n>> deeper \n> not joined across depths\nFrom here\n"
    )


def test_flowed_signature_separator_is_never_flowed() -> None:
    assert decode_flowed("Yes.\n-- \nAda\n") == "Yes.\n-- \nAda\n"


def test_a_flowed_message_is_decoded_before_extraction() -> None:
    message = EmailMessage()
    message["From"] = "Ada <ada@example.test>"
    message.set_content(
        "I can bring the projector and the long \ncable for it.\n\nOn Mon, 16 Nov 2026, "
        "Forum wrote:\n> Who can \n> bring one?\n"
    )
    message.set_param("format", "flowed")
    result = extract_message(message)
    assert result.text == "I can bring the projector and the long cable for it."
    assert "> Who can bring one?" in result.quoted


# --- templates ------------------------------------------------------------------------------


def test_every_template_compiles_to_literals_and_slots() -> None:
    assert len(matchers()) > 100
    assert all(any(not isinstance(p, str) for p in m.parts) for m in matchers())


TEMPLATE_TRUE = [
    # (client, locale) -> an attribution written from its template, then the quote under it.
    ("thunderbird_de", "Am 16.11.26 um 09:00 schrieb Forum:"),
    ("thunderbird_ca", "El 16/11/2026 a les 9:00, Forum ha escrit:"),
    ("thunderbird_ar", "على 16/11/2026 9:00، كتب Forum:"),
    ("thunderbird_uk", "16.11.2026 09:00, Forum <forum@example.org>:"),
    ("thunderbird_pl", "W dniu 16.11.2026 o 09:00, Forum pisze:"),
    ("roundcube_uk", "2026-11-16 09:00, Forum написав:"),
    ("roundcube_pl", "W dniu 2026-11-16 09:00, Forum napisał(a):"),
    ("gmail_en", "On Mon, Nov 16, 2026 at 9:00\u202fAM Forum <forum@example.org> wrote:"),
    ("gmail_de", "Am Mo., 16. Nov. 2026 um 09:00 Uhr schrieb Forum <forum@example.org>:"),
    ("gmail_pl", "pon., 16 lis 2026 o 09:00 Forum <forum@example.org> napisał(a):"),
    ("gmail_tr", "Forum <forum@example.org>, 16 Kas 2026 Pzt, 09:00 tarihinde şunu yazdı:"),
    ("apple_en", "On Nov 16, 2026, at 9:00 AM, Forum <forum@example.org> wrote:"),
    (
        "apple_nl",
        "Op 16 nov. 2026 om 09:00 heeft Forum <forum@example.org> het volgende geschreven:",
    ),
    ("outlook_mac_ru", "16/11/2026, 09:00 пользователь Forum <forum@example.org> написал:"),
    ("outlook_mac_no", "Forum <forum@example.org> skrev følgende den 16/11/2026, 09:00:"),
    ("k9_hu", "Ekkor: 2026. november 16. 9:00, Forum <forum@example.org> írta:"),
    ("claws_de", "Am Mon, 16 Nov 2026 09:00:00 +0000\nschrieb Forum <forum@example.org>:"),
    ("evolution_de", "Am Montag, dem 16.11.2026 um 09:00 +0000 schrieb Forum:"),
    ("mutt_star", "* Forum <forum@example.org> [2026-11-16 09:00]:"),
    ("alpine_fr", "Le Nov 16, Forum a écrit :"),
]


@pytest.mark.parametrize(("name", "header"), TEMPLATE_TRUE, ids=[n for n, _ in TEMPLATE_TRUE])
def test_template_true_attributions_end_the_reply(name: str, header: str) -> None:
    top = extract_text(f"I can bring it.\n\n{header}\n{QUOTE}")
    assert top.text == "I can bring it.", name
    bottom = extract_text(f"{header}\n{QUOTE}\nI can bring it.\n")
    assert bottom.text == "I can bring it.", name


def test_a_header_directly_under_the_text_does_not_swallow_it() -> None:
    for header in ("Forum <forum@example.org> wrote:", "Am 16.11.26 um 09:00 schrieb Forum:"):
        assert extract_text(f"Thanks, I will come.\n{header}\n{QUOTE}").text == (
            "Thanks, I will come."
        )


def test_weak_attributions_need_the_quote_under_them() -> None:
    found = match_attribution("Forum wrote:")
    assert found is not None and found.strength is Strength.WEAK
    prose = "Here is what the committee wrote:\nWe meet on Friday.\n"
    assert extract_text(prose).text == prose.strip()
    assert extract_text(f"Forum wrote:\n{QUOTE}\nMe.").text == "Me."


def test_prose_that_opens_like_an_attribution_stays_text() -> None:
    body = "At 10:00 on Friday, the plan is:\n- coffee\n- talks\n"
    assert extract_text(body).text == body.strip()


# --- marker --------------------------------------------------------------------------------


MARKED = f"On Mon, 16 Nov 2026, Forum wrote:\n> {REPLY_ABOVE_MARKER}\n>\n> Bob posted:\n> Who?\n"


def test_text_under_the_quoted_notification_is_the_persons() -> None:
    assert extract_text(MARKED + "\nI will.\n").text == "I will."


def test_with_the_marker_a_signature_under_the_quote_is_reported() -> None:
    result = extract_text("I will.\n\n" + MARKED + "\n-- \nAda Lovelace\n")
    assert result.text == "I will." and result.signature == "-- \nAda Lovelace"


def test_a_marked_notification_quoted_with_nothing_written_is_empty() -> None:
    assert extract_text(MARKED).reply == ""


# --- signatures and footers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "text", "signature"),
    [
        ("Dzięki, będę.\n\nWysłano z iPhone'a", "Dzięki, będę.", "Wysłano z iPhone'a"),
        ("Vinc.\n\nEnviat des del meu iPhone", "Vinc.", "Enviat des del meu iPhone"),
        ("Буду.\n\nЗ повагою,\nАда", "Буду.", "З повагою,\nАда"),
        ("سأحضر.\n\nمع التحية،\nآدا", "سأحضر.", "مع التحية،\nآدا"),
        ("Ich komme.\n\nViele Grüße\nAda", "Ich komme.", "Viele Grüße\nAda"),
    ],
)
def test_taglines_and_closings_in_other_languages(body: str, text: str, signature: str) -> None:
    result = extract_text(body)
    assert (result.text, result.signature) == (text, signature)


def test_a_sentence_beginning_sent_from_my_stays_text() -> None:
    body = (
        "I got your note.\nSent from my desk at work, the parcel went out this morning.\n"
        "Let me know if it arrives.\n\nBest,\nAda"
    )
    result = extract_text(body)
    assert result.text.endswith("Let me know if it arrives.") and result.signature == "Best,\nAda"


def test_a_contact_card_opened_by_the_senders_name_is_the_signature() -> None:
    raw = (
        b"From: Ada Lovelace <ada@example.test>\nSubject: Re: Meetup\n\nI can come on Friday.\n\n"
        b"Ada Lovelace\nCTO, Analytical Engines Ltd\n+44 20 1234 5678\n"
    )
    result = extract_bytes(raw)
    assert result.text == "I can come on Friday."
    assert result.signature == "Ada Lovelace\nCTO, Analytical Engines Ltd\n+44 20 1234 5678"


@pytest.mark.parametrize(
    "footer",
    [
        "-- \nmeetup mailing list\nmeetup@lists.example.org\nhttps://lists.example.org/mailman/listinfo/meetup",
        "_______________________________________________\nMeetup mailing list -- meetup@lists.example.org\nTo unsubscribe send an email to meetup-leave@lists.example.org",
        '-- \nYou received this message because you are subscribed to the Google Groups "meetup" group.\nTo unsubscribe from this group and stop receiving emails from it, send an email to meetup+unsubscribe@googlegroups.com.\nTo view this discussion visit https://groups.google.com/d/msgid/meetup/x.',
        "---\n[Visit Topic](https://forum.example.org/t/1) or reply to this email to respond.\n\nTo unsubscribe from these emails, [click here](https://forum.example.org/u).",
    ],
)
def test_list_footers_leave_the_reply(footer: str) -> None:
    for body in (
        f"I will.\n\n{footer}\n",
        f"I will.\n\nOn Mon, 16 Nov 2026, Forum <f@example.org> wrote:\n{QUOTE}\n{footer}\n",
        f"On Mon, 16 Nov 2026, Forum <f@example.org> wrote:\n{QUOTE}\nI will.\n\n{footer}\n",
    ):
        result = extract_text(body)
        assert (result.text, result.signature) == ("I will.", None), body


# --- issue 9 item 11, perturbations -------------------------------------------------------


@pytest.mark.parametrize("lines", [4_000, 6_000, 60_000])
def test_a_quote_of_any_length_is_removed(lines: int) -> None:
    quote = "> a quoted line of the original that goes on a while\n" * lines
    assert extract_text("Reply text.\n\n" + quote).text == "Reply text."


@pytest.mark.slow
def test_corpus_results_survive_crlf_and_trailing_spaces() -> None:
    changed = []
    for case in load_cases():
        if case["kind"] == "html":
            continue
        original = is_exact(case, run_case(case))
        data = (corpora_root() / "replies" / case["input"]).read_bytes()
        variants = [data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")]
        if b"format=flowed" not in data.lower() and b'format="flowed"' not in data.lower():
            # Trailing spaces mean something in format=flowed (RFC 3676), nowhere else; in a
            # whole message they go on body lines (a header block ends at an empty line).
            lf = data.replace(b"\r\n", b"\n")
            head, sep, body = lf.partition(b"\n\n") if case["kind"] == "eml" else (b"", b"", lf)
            variants.append(head + sep + body.replace(b"\n", b"  \n"))
        for variant in variants:
            got = (
                extract_bytes(variant)
                if case["kind"] == "eml"
                else extract_text(variant.decode("utf-8", "replace"))
            )
            if is_exact(case, got) != original:
                changed.append(case["id"])
    assert changed == []
