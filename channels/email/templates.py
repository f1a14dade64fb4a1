"""Acknowledgement templates, one per language, with ``{name}`` and ``{case}``
placeholders. Substitution is plain text replacement of known names only (no
``str.format``: a template or a value can never reach attributes or other fields)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from hub.languages import lookup

DEFAULT_LANGUAGE = "en"
_PLACEHOLDER = re.compile(r"( ?)\{(name|case)\}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class AckTemplate:
    language: str
    body: str


ACK_TEMPLATES: dict[str, AckTemplate] = {
    "en": AckTemplate("en", "Hello {name},\n\nthank you for your message. We have opened case "
                            "{case} and will get back to you as soon as possible.\n\n"
                            "This is an automatic reply."),
    "de": AckTemplate("de", "Hallo {name},\n\nvielen Dank für Ihre Nachricht. Wir haben den "
                            "Vorgang {case} angelegt und melden uns so bald wie möglich.\n\n"
                            "Dies ist eine automatische Antwort."),
    "fr": AckTemplate("fr", "Bonjour {name},\n\nmerci pour votre message. Nous avons ouvert le "
                            "dossier {case} et vous répondrons dans les meilleurs délais.\n\n"
                            "Ceci est une réponse automatique."),
    "es": AckTemplate("es", "Hola {name}:\n\ngracias por su mensaje. Hemos abierto el caso "
                            "{case} y le responderemos lo antes posible.\n\n"
                            "Esta es una respuesta automática."),
    "pl": AckTemplate("pl", "Dzień dobry {name},\n\ndziękujemy za wiadomość. Założyliśmy "
                            "zgłoszenie {case} i odpowiemy najszybciej, jak to możliwe.\n\n"
                            "To jest automatyczna odpowiedź."),
}


def choose_template(locale: str | None, templates: Mapping[str, AckTemplate]) -> AckTemplate:
    """``de-AT`` → de, ``pt_BR`` → pt-br or pt, unknown → en (or the first template);
    BCP 47 lookup (hub/languages.py)."""
    key = lookup(locale, templates) or lookup(DEFAULT_LANGUAGE, templates)
    return templates[key] if key is not None else next(iter(templates.values()))


def _safe_value(value: str, limit: int = 200) -> str:
    return " ".join(_CONTROL.sub(" ", value).split())[:limit]


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}``/``{case}``; anything else (``{x}``, ``{name.attr}``) stays literal.
    Values are single-line and length-limited; braces inside values are not re-expanded."""
    safe = {k: _safe_value(v) for k, v in values.items()}

    def substitute(m: re.Match[str]) -> str:
        value = safe.get(m.group(2))
        if value is None:
            return m.group(0)
        return m.group(1) + value if value else ""  # "Hello {name}," → "Hello,"

    return _PLACEHOLDER.sub(substitute, template)
