# ruff: noqa: E501  (one template per row reads best unwrapped; templates hold real typography)
"""Attribution templates: the line a mail client writes above the text it quotes, per client and
locale, as the client itself spells it.

Every row is ``(client, locale, template, source)``. ``template`` uses the client's own
placeholders (Thunderbird ``#1 #2 #3``, Roundcube ``$date $sender``, K-9 ``{date} {sender}``,
Claws and mutt ``%d %f %n %a``, alpine ``_DATE_ _FROM_``, Evolution ``${...}``); rows taken from
real mail (clients that publish no templates: Gmail, Apple Mail, Outlook) are written with
postroom's neutral placeholders ``{date} {time} {datetime} {sender} {name} {address}`` after the
observed line. ``⏎`` is a line break inside the template (the line is joined before matching).
``source`` is a key of ../shared/docs/REPLY-FORMATS.md's source table (section and client given
in the comments). :mod:`.attribution` turns the rows into matchers; nothing here is a pattern.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AttributionTemplate:
    """One client's attribution line in one locale."""

    client: str
    locale: str
    template: str
    source: str


def _rows(client: str, source: str, *pairs: tuple[str, str]) -> tuple[AttributionTemplate, ...]:
    return tuple(AttributionTemplate(client, loc, text, source) for loc, text in pairs)


# Thunderbird: mailnews.reply_header_type 1 (#1 wrote:), 2 (the default: On #2 #3, #1 wrote:),
# 3 (#1 wrote on #2 #3:); reply_header_ondateauthorwrote per locale (REPLY-FORMATS.md section 2).
THUNDERBIRD = _rows(
    "thunderbird",
    "TBC/TBL",
    ("en", "#1 wrote:"),
    ("en", "On #2 #3, #1 wrote:"),
    ("en", "#1 wrote on #2 #3:"),
    ("de", "Am #2 um #3 schrieb #1:"),
    ("fr", "Le #2 à #3, #1 a écrit :"),
    ("es-ES", "El #2 a las #3, #1 escribió:"),
    ("it", "Il #2 #3, #1 ha scritto:"),
    ("pt-BR", "Em #2 #3, #1 escreveu:"),
    ("pt-PT", "Às #3 de #2, #1 escreveu:"),
    ("nl", "Op #2 om #3 schreef #1:"),
    ("sv-SE", "Den #2 kl. #3, skrev #1:"),
    ("da", "Den #2 kl. #3 skrev #1:"),
    ("nb-NO", "Den #2 #3, skrev #1:"),
    ("fi", "#1 kirjoitti #2 klo #3:"),
    ("pl", "W dniu #2 o #3, #1 pisze:"),
    ("cs", "Dne #2 v #3 #1 napsal(a):"),
    ("hr", "#2 u #3, #1 piše:"),
    ("ru", "#2 #3, #1 пишет:"),
    ("uk", "#2 #3, #1:"),
    ("el", "Στις #2 #3, ο/η #1 έγραψε:"),
    ("tr", "#2 #3 tarihinde #1 yazdı:"),
    ("hu", "#2 #3 keltezéssel, #1 írta:"),
    ("ko", "#2 #3에 #1 이(가) 쓴 글:"),
    ("zh-CN", "在 #2 #3, #1 写道:"),
    ("zh-TW", "#1 於 #2 #3 寫道:"),
    # thunderbird-l10n@0508abc ca and @09e9877 ar composeMsgs.properties, the three header types.
    ("ca", "#1 ha escrit:"),
    ("ca", "El #2 a les #3, #1 ha escrit:"),
    ("ca", "#1 ha escrit el #2 a les #3:"),
    ("ar", "كتب #1:"),
    ("ar", "على #2 #3، كتب #1:"),
    ("ar", "كتب #1 على #2 #3:"),
)

# K-9 Mail / Thunderbird for Android, quote style PREFIX (section 3).
K9 = _rows(
    "k9",
    "K9",
    ("en", "{sender} wrote:"),
    ("en", "On {date}, {sender} wrote:"),
    ("de", "Am {date} schrieb {sender}:"),
    ("fr", "Le {date}, {sender} a écrit :"),
    ("es", "El {date}, {sender} escribió:"),
    ("it", "Il {date}, {sender} ha scritto:"),
    ("pt-rBR", "Em {date}, {sender} escreveu:"),
    ("nl", "{sender} schreef op {date}:"),
    ("sv", "Den {date}, {sender} skrev:"),
    ("nb", "Den {date}, skrev {sender}:"),
    ("fi", "{date} {sender} kirjoitti:"),
    ("pl", "Dnia {date}, {sender} napisał/a:"),
    ("cs", "{date}, {sender} napsal:"),
    ("ru", "{date}, {sender} пишет:"),
    ("tr", "{date} tarihinde {sender} yazdı:"),
    ("hu", "Ekkor: {date}, {sender} írta:"),
    ("iw", "ב {date}, {sender} כתב:"),
    ("ja", "{date}、{sender} より:"),
    ("ko", "On {date}, {sender} 작성함:"),
    ("zh-rCN", "于 {date}，{sender} 写道："),
    ("zh-rTW", "於 {date}，{sender} 寫到："),
)

# Roundcube: $labels['mailreplyintro'] (section 4).
ROUNDCUBE = _rows(
    "roundcube",
    "RC",
    ("en_US", "On $date, $sender wrote:"),
    ("de_DE", "Am $date, schrieb $sender:"),
    ("fr_FR", "Le $date, $sender a écrit :"),
    ("es_ES", "El $date, $sender escribió:"),
    ("it_IT", "Il $date $sender ha scritto:"),
    ("pt_BR", "Em $date, $sender escreveu:"),
    ("nl_NL", "$sender schreef op $date:"),
    ("sv_SE", "$date skrev $sender:"),
    ("da_DK", "$sender skrev den $date:"),
    ("nb_NO", "Den $date, skrev $sender:"),
    ("fi_FI", "$sender kirjoitti $date:"),
    ("pl_PL", "W dniu $date, $sender napisał(a):"),
    ("cs_CZ", "Dne $date, $sender napsal:"),
    ("ru_RU", "$sender писал(а) $date:"),
    ("uk_UA", "$date, $sender написав:"),
    ("tr_TR", "$date, $sender yazmış:"),
    ("hu_HU", "$date időpontban $sender ezt írta:"),
    ("ja_JP", "$date に $sender さんは書きました:"),
    ("ko_KR", "$date에 $sender이(가) 쓴 내용:"),
    ("zh_CN", "在 $date，$sender 写道："),
    ("zh_TW", "$sender 於 $date 寫到:"),
)

# Claws Mail: "On %d⏎%f wrote:" and its po translations (section 8).
CLAWS = _rows(
    "claws",
    "CL",
    ("C", "On %d⏎%f wrote:"),
    ("de", "Am %d⏎schrieb %f:"),
    ("fr", "Le %d,⏎%f a écrit :"),
    ("es", "El %d⏎%f escribió:"),
    ("it", "Il giorno %d⏎%f ha scritto:"),
    ("nl", "Op %d⏎%f schreef:"),
    ("pt", "Em %d⏎%f escreveu:"),
    ("pl", "Dnia %D{%F}, o godz. %D{%T}⏎%f napisał(a):"),
    ("ru", "В %d⏎%f пишет:"),
    ("cs", "V %d⏎%f napsáno:"),
    ("sv", "Den %d⏎skrev %s:"),
    ("fi", "%d⏎%f kirjoitti:"),
    ("hu", "%d -n⏎%f írta:"),
    ("tr", "%d tarihinde⏎%f yazdı:"),
    ("zh_CN", "于 %d⏎%f 写道:"),
    ("zh_TW", "在 %d⏎%f 已寫入："),
)

# mutt and NeoMutt: the default attribution "On %d, %n wrote:" (NM docs/config.c); "%n wrote:"
# and "* %n <%a> [%{%Y-%m-%d %H:%M}]:" are shapes people set with the same expandos (%n name,
# %a address, %{fmt} the date through strftime), named in issue 10 as seen from real mutt users.
MUTT = _rows(
    "mutt",
    "NM",
    ("C", "On %d, %n wrote:"),
    ("C", "%n wrote:"),
    ("C", "* %n <%a> [%{%Y-%m-%d %H:%M}]:"),
    ("C", "* %n <%a> [%d]:"),
    ("C", "* %n [%d]:"),
    ("C", "%n <%a> wrote on %d:"),
    ("de", "Am %d schrieb %n:"),
    ("de", "%n schrieb am %d:"),
    ("fr", "Le %d, %n a écrit :"),
    ("pt", "Em %d, %n escreveu:"),
    ("es", "El %d, %n escribió:"),
    ("pl", "Dnia %d, %n napisał(a):"),
)

# alpine: reply-leadin, default "On _DAYDATE_, _FROM_ wrote:" (alpine's own help text,
# h_config_reply_intro, in the Debian alpine 2.26 binary); _DATE_ is "MMM DD", no year, no
# time. The localized lead-ins are the same sentence as Thunderbird's per locale, with
# alpine's tokens (issue 10 saw German and French ones whose date has no year or time).
ALPINE = _rows(
    "alpine",
    "alpine help h_config_reply_intro",
    ("C", "On _DAYDATE_, _FROM_ wrote:"),
    ("C", "On _DATE_, _FROM_ wrote:"),
    ("C", "_FROM_ wrote:"),
    ("de", "Am _DATE_ schrieb _FROM_:"),
    ("de", "Am _DAYDATE_ schrieb _FROM_:"),
    ("de", "_FROM_ schrieb am _DATE_:"),
    ("fr", "Le _DATE_, _FROM_ a écrit :"),
    ("fr", "Le _DAYDATE_, _FROM_ a écrit :"),
    ("es", "El _DATE_, _FROM_ escribió:"),
    ("it", "Il _DATE_, _FROM_ ha scritto:"),
    ("pl", "Dnia _DATE_, _FROM_ napisał(a):"),
    ("pl", "W dniu _DATE_, _FROM_ pisze:"),
)

# Evolution: "On ${AbbrevWeekdayName}, ${Year}-${Month}-${Day} at ${24Hour}:${Minute}
# ${TimeZone}, ${Sender} wrote:" (EV), and its German and Chinese forms seen in real mail.
EVOLUTION = _rows(
    "evolution",
    "EV; LA",
    (
        "C",
        "On ${AbbrevWeekdayName}, ${Year}-${Month}-${Day} at ${24Hour}:${Minute} ${TimeZone}, ${Sender} wrote:",
    ),
    (
        "de",
        "Am ${AbbrevWeekdayName}, dem ${Day}.${Month}.${Year} um ${24Hour}:${Minute} ${TimeZone} schrieb ${Sender}:",
    ),
    (
        "zh-CN",
        "在 ${Year}-${Month}-${Day}${AbbrevWeekdayName}的 ${24Hour}:${Minute} ${TimeZone}，${Sender}写道：",
    ),
)

# Gmail publishes no templates; these follow its lines in real mail (section 5, LA).
GMAIL = _rows(
    "gmail",
    "LA (obs)",
    ("en-US", "On {date} at {time} {sender} wrote:"),
    ("en-GB", "On {date} at {time}, {sender} wrote:"),
    ("de", "Am {date} um {time} Uhr schrieb {sender}:"),
    ("fr", "Le {date} à {time}, {sender} a écrit :"),
    ("es", "El {date} a las {time}, {sender} escribió:"),
    ("it", "Il giorno {date} alle ore {time} {sender} ha scritto:"),
    ("pt-BR", "Em {date} às {time}, {sender} escreveu:"),
    ("nl", "Op {date} om {time} schreef {sender}:"),
    ("pl", "{date} o {time} {sender} napisał(a):"),
    ("ru", "{date} в {time}, {sender}:"),
    ("tr", "{sender}, {date} {time} tarihinde şunu yazdı:"),
    ("ko", "{datetime}, {sender}님이 작성:"),
    ("zh-CN", "{sender} 于{datetime}写道："),
    ("ja", "{datetime} {sender}:"),
    ("ru-android", "{datetime} пользователь {sender} написал:"),
    ("mobile-fr", "Le {datetime}, {sender} a écrit :"),
    ("mobile-pt", "Em {datetime}, {sender} escreveu:"),
)

# Apple Mail (section 6; LA, TAL, ZAM, CRP).
APPLE = _rows(
    "apple",
    "LA/TAL/ZAM (obs)",
    ("en-US", "On {date}, at {time}, {sender} wrote:"),
    ("de", "Am {date} um {time} schrieb {sender}:"),
    ("fr", "Le {date} à {time}, {sender} a écrit :"),
    ("it", "Il giorno {date}, alle ore {time}, {sender} ha scritto:"),
    ("nl", "Op {date} om {time} heeft {sender} het volgende geschreven:"),
    ("da", "Den {date} kl. {time} skrev {sender}:"),
    ("pl", "Dnia {date} o godz. {time} {sender} napisał(a):"),
    ("zh-Hans", "{datetime}，{sender} 写道："),
    ("ja", "{datetime}、{sender} のメッセージ:"),
    ("ko", "{datetime} {sender} 작성:"),
)

# Outlook for Mac 2019 (section 7, CFP); Lotus Notes (section 8, LA).
OUTLOOK_MAC = _rows(
    "outlook-mac",
    "CFP",
    ("cz", "Dne {datetime}, {sender} napsal(a):"),
    ("da", "D. {datetime} skrev {sender}:"),
    ("de", "Am {date}, {time} schrieb {sender}:"),
    ("en", "On {datetime}, {sender} wrote:"),
    ("es", "El {datetime}, {sender} escribió:"),
    ("fi", "{sender} kirjoitti {datetime}:"),
    ("fr", "Le {datetime}, {sender} a écrit :"),
    ("hu", "{datetime} időpontban {sender} ezt írta:"),
    ("it", "Il giorno {date}, {time} {sender} ha scritto:"),
    ("nl", "Op {datetime} heeft {sender} geschreven:"),
    ("no", "{sender} skrev følgende den {date}, {time}:"),
    ("pl", "Dnia {date}, {time} użytkownik {sender} napisał:"),
    ("pt", "Em {date}, {time}, {sender} escreveu:"),
    ("ru", "{date}, {time} пользователь {sender} написал:"),
    ("sk", "{datetime} používateľ {sender} napísal:"),
    ("sv", "Den {datetime} skrev {sender} följande:"),
    ("tr", "{sender}, {datetime} tarihinde şunu yazdı:"),
)
OTHERS = (
    *_rows(
        "lotus-notes",
        "LA (obs)",
        ("en", "{sender} wrote on {datetime}:"),
    ),
    *_rows(
        "yahoo",
        "LA (obs)",
        ("en", "On {datetime}, {sender} wrote:"),
    ),
    *_rows(
        "proton",
        "PM",
        ("en", "On ${date}, ${name} <${address}> wrote:"),
    ),
)

TEMPLATES: tuple[AttributionTemplate, ...] = (
    *THUNDERBIRD,
    *K9,
    *ROUNDCUBE,
    *CLAWS,
    *MUTT,
    *ALPINE,
    *EVOLUTION,
    *GMAIL,
    *APPLE,
    *OUTLOOK_MAC,
    *OTHERS,
)
"""Every attribution template postroom recognises, in no particular order."""
