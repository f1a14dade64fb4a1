"""Admin input for inboxes, their provider accounts and agents: typed bodies and the
pure checks behind ``web/routes_admin.py``. Every rule is here, testable without I/O;
a failure is a ``BadInput`` naming the field, so the admin knows what to fix."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

import msgspec

from hub.channels_table import InboxChannel as InboxChannel  # re-exported: a body's type
from hub.channels_table import channels_in_order, facts
from hub.errors import BadInput
from hub.languages import normalize_tag
from hub.messaging.accounts import AccountBody as AccountBody  # re-exported: admin's body
from hub.messaging.accounts import check_account as check_account

Role = Literal["agent", "supervisor", "admin"]

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_EMAIL_ADDRESS = re.compile(r"^[^@\s<>\"',;]{1,64}@[a-z0-9.-]{1,253}\.[a-z]{2,63}$")
MIN_PASSWORD = 10
# Which provider may serve which channel (protocols.md §1-3): hub/channels_table.py.
PROVIDERS: dict[str, tuple[str, ...]] = {
    name: facts(name).providers for name in channels_in_order() if facts(name).providers}


class InboxCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    slug: str
    name: str
    channel: InboxChannel
    default_queue: str
    greeting: str = ""
    allowed_origins: list[str] = []
    email_address: str = ""
    email_display_name: str = ""
    webhook_url: str = ""


class InboxPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | None = None
    default_queue: str | None = None
    greeting: str | None = None
    allowed_origins: list[str] | None = None
    email_address: str | None = None
    email_display_name: str | None = None
    webhook_url: str | None = None


class TemplateBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An approved WhatsApp message template, as named in Meta's WhatsApp Manager."""

    name: str
    language: str
    body: str


class AckTemplateBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    language: str
    body: str


class AckBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An email inbox's automatic acknowledgement: on or off, and its own templates (an
    empty list: the built-in ones)."""

    enabled: bool
    templates: list[AckTemplateBody] = []


class AgentCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: str
    name: str
    role: Role = "agent"
    password: str
    inboxes: list[str] = []


class MembersBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The agents who work an inbox (replaces the set)."""

    agents: list[int]


class AgentPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | None = None
    role: Role | None = None
    active: bool | None = None
    password: str | None = None
    inboxes: list[str] | None = None


def clean_text(field: str, value: str, limit: int, *, required: bool = False) -> str:
    value = " ".join(value.split()) if "\n" not in value else value.strip()
    if required and not value:
        raise BadInput(f"{field}: required")
    if len(value) > limit:
        raise BadInput(f"{field}: at most {limit} characters")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise BadInput(f"{field}: control characters are not allowed")
    return value


def check_slug(field: str, value: str) -> str:
    if not SLUG.match(value):
        raise BadInput(f"{field}: 1-63 of a-z, 0-9, - and _, starting with a letter or digit")
    return value


def check_email_address(field: str, value: str) -> str:
    value = value.strip().lower()
    if len(value) > 320 or not _EMAIL_ADDRESS.match(value):
        raise BadInput(f"{field}: not an email address")
    return value


def check_origins(values: list[str]) -> list[str]:
    """``*`` (any site may embed the widget) or ``scheme://host[:port]`` origins."""
    if len(values) > 50:
        raise BadInput("allowed_origins: at most 50")
    out: list[str] = []
    for i, raw in enumerate(values):
        origin = raw.strip().rstrip("/")
        if origin != "*":
            parts = urlsplit(origin)
            if (parts.scheme not in ("http", "https") or not parts.hostname
                    or parts.path or parts.query or parts.fragment or parts.username):
                raise BadInput(f"allowed_origins[{i}]: an origin like https://shop.example")
        if origin not in out:
            out.append(origin)
    return out


def check_url(field: str, value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        raise BadInput(f"{field}: an http(s) URL without credentials")
    if len(value) > 2000:
        raise BadInput(f"{field}: at most 2000 characters")
    return value


def check_password(value: str) -> str:
    if not MIN_PASSWORD <= len(value) <= 1024:
        raise BadInput(f"password: {MIN_PASSWORD}-1024 characters")
    return value


def check_inbox_fields(channel: str, *, email_address: str, webhook_url: str) -> None:
    """Channel-specific requirements of an inbox as a whole (hub/channels_table.py)."""
    if email_address and not facts(channel).from_address:
        raise BadInput("email_address: only for email inboxes")
    if webhook_url and not facts(channel).webhook:
        raise BadInput("webhook_url: only for API inboxes")


_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
_PLACEHOLDER = re.compile(r"\{\{(\d{1,2})\}\}")


def check_templates(channel: str, provider: str | None,
                    templates: list[TemplateBody]) -> list[dict[str, str]]:
    """Meta's naming rules (lower-case, digits and _; a language code such as ``en`` or
    ``pt_BR``), bodies up to 1024 characters whose ``{{n}}`` run 1..n without gaps, and
    one template per (name, language)."""
    if provider is None or provider != facts(channel).templates_provider:
        raise BadInput("templates are for WhatsApp Cloud API inboxes (set the Meta account"
                       " first)")
    if len(templates) > 250:
        raise BadInput("templates: at most 250")
    seen: set[tuple[str, str]] = set()
    out = []
    for i, t in enumerate(templates):
        if not _TEMPLATE_NAME.match(t.name):
            raise BadInput(f"templates[{i}].name: lower-case letters, digits and _")
        if not _LANGUAGE.match(t.language):
            raise BadInput(f"templates[{i}].language: a code like en or pt_BR")
        body = t.body.strip()
        if not 1 <= len(body) <= 1024:
            raise BadInput(f"templates[{i}].body: 1-1024 characters")
        numbers = sorted({int(n) for n in _PLACEHOLDER.findall(body)})
        if numbers != list(range(1, len(numbers) + 1)):
            raise BadInput(f"templates[{i}].body: placeholders must be {{{{1}}}}, {{{{2}}}}"
                           " ... without gaps")
        if (t.name, t.language) in seen:
            raise BadInput(f"templates[{i}]: {t.name} ({t.language}) is listed twice")
        seen.add((t.name, t.language))
        out.append({"name": t.name, "language": t.language, "body": body})
    return out


_ACK_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z]{2})?$")
_BRACED = re.compile(r"\{([^{}\s]{0,40})\}")


def check_ack_templates(templates: list[AckTemplateBody]) -> list[tuple[str, str]]:
    """Languages like ``de`` or ``pt-br`` (the contact's locale picks one, else ``en``,
    else the first), bodies of 1-5000 characters whose only placeholders are ``{name}``
    and ``{case}`` (anything else in braces is almost surely a typo)."""
    if len(templates) > 50:
        raise BadInput("templates: at most 50")
    out: dict[str, str] = {}
    for i, t in enumerate(templates):
        language = normalize_tag(t.language)  # pt_BR → pt-br (hub/languages.py)
        if not _ACK_LANGUAGE.match(language):
            raise BadInput(f"templates[{i}].language: a code like en, de or pt-br")
        if language in out:
            raise BadInput(f"templates[{i}]: {language} is listed twice")
        body = t.body.strip().replace("\r\n", "\n")
        if not 1 <= len(body) <= 5000:
            raise BadInput(f"templates[{i}].body: 1-5000 characters")
        if any(ord(c) < 32 and c not in "\n\t" for c in body):
            raise BadInput(f"templates[{i}].body: control characters are not allowed")
        unknown = sorted({m for m in _BRACED.findall(body) if m not in ("name", "case")})
        if unknown:
            raise BadInput(f"templates[{i}].body: unknown placeholder {{{unknown[0]}}};"
                           " use {name} and {case}")
        out[language] = body
    return list(out.items())


def masked(secret: str) -> str:
    """What an admin sees of a stored secret: that it is set, and its last 4 characters."""
    return "" if not secret else "…" + secret[-4:] if len(secret) >= 12 else "…"


# ---- what is missing: the Settings checklists ----------------------------------------------

MESSAGING_CHANNELS = frozenset(PROVIDERS)  # an inbox needs a provider account


def _item(code: str, text: str) -> dict[str, str]:
    return {"code": code, "text": text}


def agent_missing(*, active: bool, inboxes: list[str], queues: list[str] | None
                  ) -> list[dict[str, str]]:
    """Why an agent would get no work. ``queues``: their routing profile's queues (None:
    no profile in the running routing config)."""
    if not active:
        return []
    out = []
    if not queues:
        out.append(_item("no_queues", "no queues: this agent will never receive work"
                         " (set a routing profile)"))
    if not inboxes:
        out.append(_item("no_inboxes", "no inboxes: this agent sees no conversations"))
    return out


def inbox_missing(*, channel: str, allowed_origins: list[str], members: int,
                  has_account: bool, default_queue: str, queue_agents: int
                  ) -> list[dict[str, str]]:
    """Why an inbox would not work end to end. ``members``: active agents in it;
    ``queue_agents``: agents whose routing profile names its default queue."""
    out = []
    if members == 0:
        out.append(_item("no_members", "no members: no agent sees this inbox's conversations"))
    if queue_agents == 0:
        out.append(_item("queue_unstaffed", f"queue {default_queue} has no agents: this"
                         " inbox's conversations are never offered to anyone"))
    if facts(channel).widget and not allowed_origins:
        out.append(_item("no_origins", "no allowed origins: the widget only works on this"
                         " hub's own pages"))
    if channel in MESSAGING_CHANNELS and not has_account:
        out.append(_item("no_account", "no provider account: nothing is received or sent"))
    return out
