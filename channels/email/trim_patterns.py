"""Line classifiers for the reply trimmer.

A Python port of the matchers of Discourse's email_reply_trimmer (MIT, Copyright (c)
Discourse; corpus commit 117fd1a). Ruby/Onigmo semantics are kept: ``\\w``, ``\\d``
and ``\\s`` are ASCII, ``[[:blank:]]``/``[[:alpha:]]``/``[[:word:]]`` are Unicode,
``^``/``$`` are line anchors and Ruby's ``/m`` is Python's DOTALL.
"""

from __future__ import annotations

import re
from collections.abc import Callable

BLANK = r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]"  # [[:blank:]]
BLANK_CHARS = BLANK[1:-1]
WORD = r"[^\W]"  # [[:word:]] (Unicode)
ALPHA = r"[^\W\d_]"  # [[:alpha:]] (Unicode)
AW = r"[a-zA-Z0-9_]"  # Ruby \w
AD = r"[0-9]"  # Ruby \d
AS = r"[ \t\r\n\f\v]"  # Ruby \s

M = re.M
IM = re.I | re.M
IMS = re.I | re.M | re.S


def _c(pattern: str, flags: int = M) -> re.Pattern[str]:
    return re.compile(pattern, flags)


EMPTY_LINE = _c(rf"^{BLANK}*$")
QUOTE_LINE = _c(rf"^{BLANK}*>")
DELIMITER_LINE = _c(rf"^{BLANK}*[\-_,=+~#*\u1427\u2014]+{BLANK}*$")

# ---- signatures ("Sent from my iPhone" and friends) -------------------------------
SIGNATURES = [
    _c(rf"^{BLANK}*從我的 iPhone 傳送", IM),
    _c(rf"^{BLANK}*{WORD}+ from mobile", IM),
    _c(rf"^{BLANK}*[(<]*Sent (from|via|with|by) .+[)>]*", IM),
    _c(rf"^{BLANK}*From my .{{1,20}}", IM),
    _c(rf"^{BLANK}*Get Outlook for ", IM),
    _c(rf"^{BLANK}*Envoyé depuis (mon|Yahoo Mail)", IM),
    _c(rf"^{BLANK}*Von meinem .+ gesendet", IM),
    _c(rf"^{BLANK}*Diese Nachricht wurde von .+ gesendet", IM),
    _c(rf"^{BLANK}*Inviato da ", IM),
    _c(rf"^{BLANK}*Sendt fra min ", IM),
    _c(rf"^{BLANK}*Enviado do meu ", IM),
    _c(rf"^{BLANK}*Enviado desde mi ", IM),
    _c(rf"^{BLANK}*Verzonden met ", IM),
    _c(rf"^{BLANK}*Verstuurd vanaf mijn ", IM),
    _c(rf"^{BLANK}*från min ", IM),
]
_MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")

# ---- embedded email markers ("On <date>, <someone> wrote:") -----------------------
# Upstream's unbounded runs (``.+``, ``[^:]+``) are bounded here (R chars), and runs
# that can never give characters back are possessive: same matches on real mail, but
# no super-linear backtracking on hostile input.
R = 500
_TAIL = rf"[{BLANK_CHARS}.:>\-]*$"
_HEAD = rf"^[{BLANK_CHARS}<>\-]*"


def _on_date(on: str, stop: str, wrote: str) -> re.Pattern[str]:
    stop, wrote = stop.replace(r"\s", AS), wrote.replace(r"\s", AS)  # Ruby's ASCII \s
    return _c(rf"{_HEAD}{on} (?:(?!\b(?>{stop})\b).){{1,300}}?{wrote}{_TAIL}", IMS)


ON_DATE_SOMEONE_WROTE = [
    _on_date("在", "在|写道", "写道"),
    _on_date("Op", r"Op|het\svolgende\sgeschreven|schreef",
             rf"(het\svolgende\sgeschreven|schreef[^:]{{1,{R}}})"),
    _on_date("In message", "In message|writes", "writes"),
    _on_date("(On|At)", "On|wrote|writes|says|said", "(wrote|writes|says|said)"),
    _on_date("Le", r"Le|nous\sa\sdit|a\s+écrit", r"(nous\sa\sdit|a\s+écrit)"),
    _on_date("Am", r"Am|schrieben\sSie", r"schrieben\sSie"),
    _on_date("Am", "Am|geschrieben", rf"(geschrieben|schrieb[^:]{{1,{R}}})"),
    _on_date("Il", r"Il|ha\sscritto", r"ha\sscritto"),
    _on_date("(Dnia|Dňa)", "Dnia|Dňa|napisał", r"napisał(\(a\))?"),
    _on_date("Em", "Em|escreveu", "escreveu"),
    _on_date("El", "El|escribió", "escribió"),
]

ON_DATE_WROTE_SOMEONE = [
    _c(rf"^[{BLANK_CHARS}>]*{on}{AS}.{{1,{R}}}{AS}{wrote}{AS}[^:]{{1,{R}}}+:")
    for on, wrote in [("Op", "schreef"), ("Am", "schrieb"), ("Den", "skrev"),
                      (r"søn\.", "skrev")]
]


class DateSomeoneWrote:
    """Upstream's ``\\d{4}.{1,80}[USER.{0,80}]\\n?.{0,80}?WROTE:`` evaluated without
    backtracking (that regex costs ~10^4 steps per digit): same matches, found by
    following the regex's own preference order (longest ``.{1,80}`` first)."""

    def __init__(self, wrote: str, user: str = "") -> None:
        self.wrote, self.user = wrote + ":", user
        self.pattern = f"\\d{{4}}.{{1,80}}{user}{'.{0,80}' if user else ''}\\n?.{{0,80}}?{wrote}:"

    def _tail(self, text: str, t: int, min_run: int) -> int:
        """End of ``.{min_run,80}\\n?.{0,80}?WROTE`` matched at t, or -1."""
        x_len = len(self.wrote)
        eol = text.find("\n", t)
        eol = len(text) if eol < 0 else eol
        run = eol - t
        if run < min_run:
            return -1
        if run <= 80 and eol < len(text):  # the run reaches the line end: try the next line
            nxt = eol + 1
            x = text.find(self.wrote, nxt, nxt + 80 + x_len)
            if x >= 0 and "\n" not in text[nxt:x]:
                return x + x_len
        last = text.rfind(self.wrote, t + min_run, min(t + min(80, run) + 80 + x_len, eol))
        if last < 0:
            return -1
        first = text.find(self.wrote, t + min(80, run, last - t), last + x_len)
        return first + x_len

    def _match_at(self, text: str, p: int) -> int:
        s = p + 4
        if not self.user:
            return self._tail(text, s, 1)
        eol = text.find("\n", s)
        eol = len(text) if eol < 0 else eol
        u = text.rfind(self.user, s + 1, min(s + 80 + len(self.user), eol))
        while u >= 0:
            end = self._tail(text, u + len(self.user), 0)
            if end >= 0:
                return end
            u = text.rfind(self.user, s + 1, u + len(self.user) - 1)
        return -1

    def spans(self, text: str) -> list[tuple[int, int]]:
        if self.wrote not in text or (self.user and self.user not in text):
            return []
        found: list[tuple[int, int]] = []
        pos = 0
        for m in _FOUR_DIGITS.finditer(text):
            p = m.start()
            if p < pos:
                continue
            end = self._match_at(text, p)
            if end >= 0:
                found.append((p, end))
                pos = end
        return found

    def search(self, text: str) -> bool:
        return bool(self.spans(text))

    def sub(self, repl: Callable[[str], str], text: str) -> str:
        out, pos = [], 0
        for start, end in self.spans(text):
            out += [text[pos:start], repl(text[start:end])]
            pos = end
        return "".join(out) + text[pos:]


_FOUR_DIGITS = re.compile(r"(?=[0-9]{4})")
DATE_SOMEONE_WROTE = [
    DateSomeoneWrote("написал", user="пользователь"),
    DateSomeoneWrote(r"napisał(a)"),
    DateSomeoneWrote("пише"),
]

# Upstream: ^.+\bwrote\b[[:space:]]+\bon\b.+[^:]+:  The tail ``.+[^:]+:`` is rewritten
# into the two ways it can match (through the end of the line to the next colon, or
# up to the last "<non-colon>:" of the line), which is the same match in linear time.
_COLON_TAIL = rf"(?:.{{1,{R}}}+\n[^:]{{0,{R}}}+:|.{{1,{R}}}[^:\n]:)"
SOMEONE_WROTE_ON_DATE = [
    _c(rf"^.{{1,{R}}}\bwrote\b\s{{1,{R}}}+\bon\b{_COLON_TAIL}"),
    _c(rf"^.{{1,{R}}}\bschrieb\b\s{{1,{R}}}+\bam\b{_COLON_TAIL}"),
]
ISO_DATE_SOMEONE = _c(
    rf"^[{BLANK_CHARS}>]*20{AD}{AD}-{AD}{AD}-{AD}{AD} {AD}{AD}:{AD}{AD} "
    rf"GMT\+{AD}{AD}:{AD}{AD} [a-zA-Z0-9_{BLANK_CHARS}]+$"
)
DATE_SOMEONE_EMAIL = _c(
    rf"{AD}{{4}}.{{1,80}}{AS}?<[^@<>]{{1,{R}}}+@[^@<>.]{{1,{R}}}+\.[^@<>]{{1,{R}}}+>:?$"
)
SOMEONE_VIA_SOMETHING_WROTE = [
    _c(rf"^.{{1,{R}}} via .{{1,{R}}} {wrote}:?{BLANK}*$") for wrote in ("wrote", "schrieb")
]
SOMEONE_EMAIL_WROTE = _c(
    rf"^.{{1,{R}}}\b[a-zA-Z0-9_.+\-]{{1,{R}}}@[a-zA-Z0-9_.\-]{{1,{R}}}\.{AW}{{2,{R}}}+\b"
    rf".{{1,{R}}}wrote:?$"
)
POSTED_BY_SOMEONE_ON_DATE = _c(
    rf"^[{BLANK_CHARS}>]*Posted by .{{1,{R}}} on {AD}{{2}}/{AD}{{2}}/{AD}{{4}}$", IM
)
FORWARDED_EMAIL = [
    _c(rf"^[{BLANK_CHARS}>]*Begin forwarded message:", IM),
    _c(rf"^[{BLANK_CHARS}>*]*-{{2,}}{BLANK}*(Forwarded|Original|Reply) Message{BLANK}*-{{2,}}", IM),
    _c(rf"^[{BLANK_CHARS}>]*Début du message transféré :", IM),
    _c(rf"^[{BLANK_CHARS}>*]*-{{2,}}{BLANK}*Message transféré{BLANK}*-{{2,}}", IM),
    _c(rf"^[{BLANK_CHARS}>*]*-{{2,}}{BLANK}*Ursprüngliche Nachricht{BLANK}*-{{2,}}", IM),
    _c(rf"^[{BLANK_CHARS}>*]*-{{2,}}{BLANK}*Mensaje original{BLANK}*-{{2,}}", IM),
    _c(rf"^[{BLANK_CHARS}>*]*-{{2,}}{BLANK}*原始邮件{BLANK}*-{{2,}}", IM),
]

Matcher = re.Pattern[str] | DateSomeoneWrote
EMBEDDED: list[Matcher] = [
    *ON_DATE_SOMEONE_WROTE,
    *ON_DATE_WROTE_SOMEONE,
    *DATE_SOMEONE_WROTE,
    DATE_SOMEONE_EMAIL,
    *SOMEONE_WROTE_ON_DATE,
    ISO_DATE_SOMEONE,
    *SOMEONE_VIA_SOMETHING_WROTE,
    SOMEONE_EMAIL_WROTE,
    POSTED_BY_SOMEONE_ON_DATE,
    *FORWARDED_EMAIL,
]
# Markers that may have been wrapped over several lines by the sender's client.
MULTILINE_MARKERS: list[Matcher] = [*ON_DATE_SOMEONE_WROTE, *SOMEONE_WROTE_ON_DATE, *DATE_SOMEONE_WROTE,
                     DATE_SOMEONE_EMAIL]

# ---- quoted email headers ("From: ...", "Sent: ...") ------------------------------
_DATE_HEADERS = [["Sendt"], ["Sent", "Date"], ["Date", "Le"], ["Gesendet"], ["Enviada em"],
                 ["Enviado"], ["Fecha"], ["Data"], ["Datum"], ["Skickat"], ["发送时间"]]
_TEXT_HEADERS = [
    ["Fra", "Til", "Emne"],
    ["From", "To", "Cc", "Reply-To", "Subject"],
    ["De", "Expéditeur", "À", "Destinataire", "Répondre à", "Objet"],
    ["Von", "An", "Betreff"],
    ["De", "Para", "Assunto"],
    ["De", "Para", "Asunto"],
    ["Da", "Risposta", "A", "Oggetto"],
    ["Van", "Beantwoorden - Aan", "Aan", "Onderwerp"],
    ["Från", "Till", "Ämne"],
    ["发件人", "收件人", "主题"],
]
EMAIL_HEADERS = [
    *(_c(rf"^[{BLANK_CHARS}*]*(?:{'|'.join(h)})[{BLANK_CHARS}*]*:.*{AD}+") for h in _DATE_HEADERS),
    *(_c(rf"^[{BLANK_CHARS}*]*(?:{'|'.join(h)})[{BLANK_CHARS}*]*:.*{WORD}+", IM)
      for h in _TEXT_HEADERS),
]


def is_empty(line: str) -> bool:
    return EMPTY_LINE.search(line) is not None


def is_delimiter(line: str) -> bool:
    return DELIMITER_LINE.search(line) is not None


def is_signature(line: str) -> bool:
    stripped = _MARKDOWN_LINK.sub(lambda m: m.group(1), line)
    return any(r.search(stripped) for r in SIGNATURES)


def is_embedded(line: str) -> bool:
    return any(r.search(line) for r in EMBEDDED)


def is_email_header(line: str) -> bool:
    return any(r.search(line) for r in EMAIL_HEADERS)


def is_quote(line: str) -> bool:
    return QUOTE_LINE.search(line) is not None
