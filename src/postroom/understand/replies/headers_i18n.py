"""Localised patterns for the lines mail clients put above quoted or forwarded text.

Three families, each matched on one line or on a short window of joined lines:

* attribution lines ("On <date>, <who> wrote:") in many languages, often wrapped by the
  client over two to five lines;
* separator lines ("-----Original Message-----", "---------- Forwarded message ---------",
  "Begin forwarded message:");
* header-field blocks that Outlook and webmail clients copy from the original
  ("From: / Sent: / To: / Subject:", localised).

Every pattern is anchored and uses bounded or possessive-free simple quantifiers over short,
length-capped strings, so none of them can backtrack catastrophically.
"""

from __future__ import annotations

import re

from postroom.understand.lazyre import Pattern, lazy
from postroom.understand.replies.phrases import phrase_pattern

# Verbs (and verb phrases) that end an attribution line, by language: en, fr, de, es, it, pt,
# nl, pl, sv/da/no, fi, ru/uk/bg, zh, ja, ko, vi, tr, hu, cs/sk, ro, el, et, lt, lv. A space
# is any run of white space; "napisał (a)" and "napisał(a)" both occur.
WRITER_VERBS = (
    "wrote", "writes", "sent", "a écrit", "écrit", "schrieb", "hat geschrieben",
    "escribió", "escribio", "ha scritto", "scrisse", "escreveu", "escribiu", "schreef",
    "het volgende geschreven", "geschreven", "napisał (a)", "napisał(a)", "napisała",
    "napisał", "pisze", "schreibt", "escribe", "skrev", "skrev følgende", "kirjoitti",
    "написал (а)", "написал(а)", "написала", "написал", "пише", "писал", "написа",
    "đã viết", "yazdı", "írta", "napsal", "napísal", "a scris", "έγραψε", "kirjutas",
    "rašė", "rakstīja",
)  # fmt: skip
_WRITER_VERBS = phrase_pattern(WRITER_VERBS)

# An attribution window ends with a writer verb, then maybe a colon and/or trailing dashes.
# Verbs in scripts written without spaces, which need no word boundary before them.
CJK_VERBS = ("写道", "寫道", "書きました", "のメッセージ", "작성", "님이 작성", "님이작성")
_CJK_VERBS = phrase_pattern(CJK_VERBS)
VERB_END_RE = lazy(
    r"(?:(?:^|[\s\"'>)\]])"
    + _WRITER_VERBS
    + r"|"
    + _CJK_VERBS
    + r")\s{0,3}(?:[:：]|-{2,}|\.{3})?\s{0,3}-{0,8}\s{0,3}$",
    re.IGNORECASE,
)
# The verbs read backwards, for ends_with_verb.
_REVERSED_ANY_VERB_RE = lazy(
    phrase_pattern(verb[::-1] for verb in WRITER_VERBS + CJK_VERBS), re.IGNORECASE
)
_VERB_END_TRAIL = frozenset(":：.-")


def ends_with_verb(text: str) -> bool:
    """VERB_END_RE.search(text), rejecting first a text that, its closing colon, dashes, dots
    and white space cut off, does not end with a verb read backwards (no verb ends with one
    of those, so a match needs it): one anchored test instead of one at every position."""
    end = len(text)
    while end and (text[end - 1] in _VERB_END_TRAIL or text[end - 1].isspace()):
        end -= 1
    if _REVERSED_ANY_VERB_RE.match(text[:end][::-1]) is None:
        return False
    return VERB_END_RE.search(text) is not None


# ... or anywhere (German "X schrieb am <date> um <time> Uhr:", Dutch "Op <date> schreef X:").
VERB_ANY_RE = lazy(
    r"(?:(?:^|[\s\"'>)\]])" + _WRITER_VERBS + r"|" + _CJK_VERBS + r")(?=$|[\s:：(])",
    re.IGNORECASE,
)

# Gmail in many locales: "<date> <name> <addr>:" with no verb at all.
ADDR_COLON_END_RE = lazy(
    r"(?:<\s{0,3}(?:mailto:)?[^<>\s]{1,200}@[^<>\s]{1,200}\s{0,3}>|\([^()\s]{1,200}@[^()\s]{1,200}\))"
    r"\s{0,3}[:：]\s{0,3}$"
)
# Gmail's ISO-date attribution, sometimes without a trailing colon at all.
GMAIL_ISO_RE = lazy(r"^\s{0,8}\d{4}-\d{2}-\d{2}\s\d{1,2}:\d{2}\s?GMT[+-]\d{1,2}:\d{2}\b")

# A time (9:00, 9.00, 9h00) or a year (19xx, 20xx), neither inside a longer number. Written
# to open with its digit, so that re skips to the digits of a line instead of trying every
# position: "(?<!\d\d)" after the first digit says no digit stands before it.
DATE_RE = lazy(r"\d(?<!\d\d)(?:\d?[:.h]\d{2}|(?<=1)9\d{2}|(?<=2)0\d{2})(?!\d)")

# An address: up to 100 address characters, "@", up to 100 more, a dot and a top-level
# domain of 2 to 24 letters. has_address() tests it from each "@" (one character before it
# suffices), instead of from every position of the text.
_ADDRESS_STOPS = frozenset("<>()[]\"',;:")
_ADDRESS_TAIL_RE = lazy(r"[^\s<>()\[\]\"',;:]{1,100}\.[A-Za-z]{2,24}")


def contains_address(text: str, tail: Pattern) -> bool:
    """Does ``text`` hold an address character, "@", and a domain that ``tail`` matches?"""
    at = text.find("@", 1)
    while at > 0:
        before = text[at - 1]
        if before not in _ADDRESS_STOPS and not before.isspace() and tail.match(text, at + 1):
            return True
        at = text.find("@", at + 1)
    return False


def has_address(text: str) -> bool:
    """True when ``text`` holds an address with an ASCII top-level domain."""
    return contains_address(text, _ADDRESS_TAIL_RE)


# Words an attribution line starts with ("On", "Le", "Am", "El", "Op", "Em", "Il", ...).
OPENER_RE = lazy(
    r"^[\s>*\-]{0,12}(?:On|At|Le|Am|El|Em|Op|Il|In\s+data|Dnia|W\s+dniu|Den|På|Vào|在|"
    r"Le\s+\w{2,4}\.|Am\s+\w{2,3}\.)\s",
    re.IGNORECASE,
)
# A line that opens with a date or weekday-ish token ("02.04.2012 14:20 ...", "tir. 18. apr.").
DATE_START_RE = lazy(r"^[\s>*\-]{0,12}(?:\d{1,4}[./\-年 ]|\w{1,12}\.?,?\s\d{1,2}[. ])")
# English "On" opening mid-line ("reply On Wed, Apr 4, ..."; "bla--- On Wed ...").
MIDLINE_ON_RE = lazy(r"^(?P<pre>.{0,300}?\S)[\s\-]{1,12}(?P<on>On\s.{4,})$")

# Dash-wrapped attributions: "---- John Smith wrote ----", "---- On <date> <addr> wrote ----".
DASHED_VERB_RE = lazy(
    r"^\s{0,8}-{2,}.{1,300}?\b" + _WRITER_VERBS + r"\s{0,3}-{2,}\s{0,3}$", re.IGNORECASE
)
# The verb such a line ends with, read backwards: the line with its trailing dashes and
# white space cut off and reversed must open with a reversed verb. One anchored test, where
# DASHED_VERB_RE tries every split of a long dash rule against every later position.
_REVERSED_VERB_RE = lazy(phrase_pattern(verb[::-1] for verb in WRITER_VERBS), re.IGNORECASE)


def is_dashed_attribution(stripped: str) -> bool:
    """DASHED_VERB_RE on a line without surrounding white space, rejecting first a line that
    does not end with a writer verb before its closing dashes (a verb ends with no dash)."""
    if not stripped.endswith("--"):
        return False
    if _REVERSED_VERB_RE.match(stripped.rstrip("-").rstrip()[::-1]) is None:
        return False
    return DASHED_VERB_RE.match(stripped) is not None


_ORIGINAL = (
    r"original\s+message|reply\s+message|ursprüngliche\s+nachricht|antwort\s+nachricht|"
    r"originalnachricht|message\s+d'origine|message\s+original|mensaje\s+original|"
    r"messaggio\s+originale|mensagem\s+original|oorspronkelijk\s+bericht|"
    r"originalmeddelande|ursprungligt\s+meddelande|oprindelig\s+(?:besked|meddelelse)|"
    r"opprinnelig\s+melding|opprinnelig\s+e-post|alkuperäinen\s+viesti|"
    r"wiadomość\s+oryginalna|oryginalna\s+wiadomość|исходное\s+сообщение|"
    r"оригинальное\s+сообщение|原始邮件|原始郵件|元のメッセージ|원본\s*메시지|"
    r"forwarded\s+message|weitergeleitete\s+nachricht|message\s+transféré|"
    r"mensaje\s+reenviado|messaggio\s+inoltrato|mensagem\s+encaminhada|"
    r"doorgestuurd\s+bericht|vidarebefordrat\s+meddelande|videresendt\s+(?:besked|meddelelse|melding)|"
    r"välitetty\s+viesti|wiadomość\s+przekazana(?:\s+dalej)?|пересылаемое\s+сообщение|"
    r"пересланное\s+сообщение|转发的邮件|轉寄的郵件|転送されたメッセージ|전달된\s*메시지"
)
# "-----Original Message-----", "*-------- Original Message --------*", "----- Forwarded ...".
SEPARATOR_RE = lazy(
    # No separator word opens with a dash, so the leading rule is taken whole (possessive):
    # the same lines match, without retrying each shorter rule against the words.
    r"^[\s>*_]{0,8}-{2,}+\s{0,4}(?:" + _ORIGINAL + r")\s{0,4}-{2,}[\s*_]{0,8}$",
    re.IGNORECASE,
)
# Apple Mail and others: "Begin forwarded message:", localised.
FORWARD_LINE_RE = lazy(
    r"^[\s>]{0,8}(?:begin\s+forwarded\s+message|anfang\s+der\s+weitergeleiteten\s+nachricht|"
    r"début\s+du\s+message\s+réexpédié|début\s+du\s+message\s+transféré|"
    r"inicio\s+del\s+mensaje\s+reenviado|inizio\s+messaggio\s+inoltrato|"
    r"início\s+da\s+mensagem\s+reencaminhada|begin\s+doorgestuurd\s+bericht|"
    r"vidarebefordrat\s+meddelande|videresendt\s+besked|"
    r"начало\s+переадресованного\s+сообщения|転送されたメッセージ)\s{0,3}[:：]\s{0,3}$",
    re.IGNORECASE,
)

# Header fields copied into a quoted block, by language. The value after the colon is free.
FROM_FIELD_NAMES = (
    "from", "von", "de", "da", "van", "från", "fra", "od", "lähettäjä", "от", "от кого",
    "发件人", "寄件者", "差出人", "보낸 사람", "보낸사람", "feladó", "odesílatel", "kimden", "từ",
    "expéditeur", "remitente",
)  # fmt: skip
OTHER_FIELD_NAMES = (
    "sent", "date", "to", "cc", "bcc", "subject", "reply-to", "gesendet", "an", "betreff",
    "datum", "kopie", "envoyé", "envoyé le", "à", "objet", "copie", "inviato", "a",
    "oggetto", "data", "enviado", "enviada", "para", "asunto", "assunto", "fecha",
    "verzonden", "aan", "onderwerp", "skickat", "till", "ämne", "kopia", "sendt", "til",
    "emne", "dato", "wysłano", "do", "temat", "lähetetty", "vastaanottaja", "aihe",
    "päivämäärä", "kopio", "отправлено", "кому", "тема", "дата", "копия", "发送时间", "收件人",
    "主题", "日期", "抄送", "送信日時", "宛先", "件名", "보낸 날짜", "보낸날짜", "받는 사람",
    "받는사람", "제목", "날짜", "elküldve", "címzett", "tárgy", "odesláno", "komu", "předmět",
    "gönderildi", "kime", "konu", "gửi", "đến", "chủ đề", "on behalf of",
)  # fmt: skip
FIELD_RE = lazy(
    r"^[\s>]{0,8}[*_]{0,2}\s{0,2}(?P<name>"
    + phrase_pattern(FROM_FIELD_NAMES + OTHER_FIELD_NAMES)
    + r")"
    r"\s{0,2}[*_]{0,2}\s{0,2}[:：]",
    re.IGNORECASE,
)
FROM_FIELD_RE = lazy(r"^" + phrase_pattern(FROM_FIELD_NAMES) + r"$", re.IGNORECASE)

# A From field followed on the same line by another field: a header block whose line breaks
# were lost (HTML rendered from inline elements).
INLINE_FIELD_RE = lazy(
    r"\s[*_]{0,2}(?:sent|date|to|subject|gesendet|datum|betreff|envoyé|objet|inviato|oggetto|"
    r"enviado|asunto|assunto|verzonden|onderwerp|skickat|ämne|sendt|emne|wysłano|temat|"
    r"отправлено|тема|дата)[*_]{0,2}\s?[:：]",
    re.IGNORECASE,
)

# Last words of the attribution verb phrases: a cheap filter before the regexes run.
VERB_TAILS = frozenset(
    [
        "wrote",
        "writes",
        "sent",
        "écrit",
        "schrieb",
        "geschrieben",
        "escribió",
        "escribio",
        "scritto",
        "scrisse",
        "escreveu",
        "escribiu",
        "schreef",
        "napisał(a)",
        "(a)",
        "napisała",
        "napisał",
        "pisze",
        "schreibt",
        "escribe",
        "skrev",
        "følgende",
        "kirjoitti",
        "написал(а)",
        "(а)",
        "написала",
        "написал",
        "пише",
        "писал",
        "написа",
        "写道",
        "寫道",
        "書きました",
        "のメッセージ",
        "작성",
        "viết",
        "yazdı",
        "írta",
        "napsal",
        "napísal",
        "scris",
        "έγραψε",
        "kirjutas",
        "rašė",
        "rakstīja",
    ]
)
CJK_VERB_ENDINGS = ("写道", "寫道", "書きました", "작성")
