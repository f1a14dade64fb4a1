"""The web widget's pre-chat form: the per-inbox config and the validation of a visitor's
answers. Pure: no I/O, no clock (callers pass ``now``).

A config is JSON (docs/frontend.md "Pre-chat form")::

    {"enabled": true, "welcome": "Hi! Who are we talking to?", "phone_region": "DE",
     "fields": [{"key": "name", "label": "Your name", "required": true},
                {"key": "email", "label": "Email", "required": true},
                {"key": "topic", "label": "Topic", "type": "select", "required": true,
                 "options": ["Billing", "Shipping"]}],
     "consent": {"text": "I agree to the privacy policy.", "version": "2026-01"}}

``name``, ``email`` and ``phone`` are the standard fields (their type is implied); any
other key is a custom field of type ``text``, ``select`` or ``checkbox``. A bad config
raises ``PrechatConfigError`` whose ``path`` names the field; nothing is half-applied
because the caller stores only what ``parse_config`` returned.

Answers are checked field by field; every problem is collected so the widget can show
all of them inline at once (``PrechatInvalid.fields``: key -> reason).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import msgspec

from hub.contacts.rules.identity import normalise_identity
from hub.errors import BadInput
from hub.schema import PrechatAnswers as Answers
from hub.schema import PrechatConsent as Consent
from hub.untrusted import field_problem

STANDARD = ("name", "email", "phone")
CUSTOM_TYPES = ("text", "select", "checkbox")
FieldType = Literal["text", "select", "checkbox", "email", "phone"]
MAX_FIELDS = 20
MAX_OPTIONS = 50
MAX_NAME = 100
MAX_TEXT_VALUE = 500
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_REGION = re.compile(r"^[A-Z]{2}$")
_VERSION = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
# Attribute keys routing may not be fed from a form (they come from the hub itself).
RESERVED = frozenset({"consent", "message", "inbox", "queue", "channel", "tier", "vip",
                      "locale", "language", "skills"})


class PrechatConfigError(BadInput):
    """422 with the offending field's path (``fields[2].options``)."""

    status = 422
    code = "invalid_config"

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


class PrechatInvalid(BadInput):
    """422: the visitor's answers fail validation; ``fields`` maps key -> reason."""

    status = 422
    code = "invalid_prechat"

    def __init__(self, fields: Mapping[str, str]) -> None:
        first = next(iter(fields.items()))
        super().__init__(f"{first[0]}: {first[1]}")
        self.fields = dict(fields)


# ---- config ---------------------------------------------------------------------------


class _Cfg(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class FieldSpec(_Cfg, frozen=True, kw_only=True):
    key: str
    label: str = ""
    # Implied for name/email/phone; "text", "select" or "checkbox" for a custom field.
    type: FieldType | None = None
    required: bool = False
    options: tuple[str, ...] = ()
    max_length: int | None = None
    placeholder: str = ""


class ConsentSpec(_Cfg, frozen=True, kw_only=True):
    text: str
    # Which wording the visitor agreed to; derived from the text when not given.
    version: str = ""
    required: bool = True


class PrechatConfig(_Cfg, frozen=True, kw_only=True):
    enabled: bool = False
    welcome: str = ""
    # Region for phone numbers typed without +<country> (ISO 3166 alpha-2).
    phone_region: str = ""
    fields: tuple[FieldSpec, ...] = ()
    consent: ConsentSpec | None = None


DISABLED = PrechatConfig()


def _fail(path: str, problem: str) -> PrechatConfigError:
    return PrechatConfigError(path, problem)


def _from_msgspec(exc: msgspec.ValidationError) -> PrechatConfigError:
    return _fail(*field_problem(exc))


def _text(path: str, value: str, limit: int, *, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise _fail(path, "must not be empty")
    if len(value) > limit:
        raise _fail(path, f"at most {limit} characters")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise _fail(path, "control characters are not allowed")
    return value


def _check_field(i: int, f: FieldSpec) -> FieldSpec:
    p = f"fields[{i}]"
    if not _KEY.match(f.key):
        raise _fail(f"{p}.key", "1-40 characters of [a-z0-9_], starting with a letter")
    if f.key in RESERVED:
        raise _fail(f"{p}.key", f"{f.key!r} is reserved")
    label = _text(f"{p}.label", f.label, 100) or f.key.replace("_", " ").capitalize()
    placeholder = _text(f"{p}.placeholder", f.placeholder, 100)
    if f.key in STANDARD:
        implied = {"name": "text", "email": "email", "phone": "phone"}[f.key]
        if f.type is not None and f.type != implied:
            raise _fail(f"{p}.type", f"the {f.key} field is always {implied}")
        kind: FieldType = implied  # type: ignore[assignment]
    else:
        if f.type is None:
            raise _fail(f"{p}.type", "required for a custom field (text, select, checkbox)")
        if f.type not in CUSTOM_TYPES:
            raise _fail(f"{p}.type", "a custom field is text, select or checkbox")
        kind = f.type
    options: tuple[str, ...] = ()
    if kind == "select":
        if not f.options:
            raise _fail(f"{p}.options", "a select field needs at least one option")
        if len(f.options) > MAX_OPTIONS:
            raise _fail(f"{p}.options", f"at most {MAX_OPTIONS} options")
        options = tuple(_text(f"{p}.options[{j}]", o, 100, required=True)
                        for j, o in enumerate(f.options))
        if len(set(options)) != len(options):
            raise _fail(f"{p}.options", "options must be unique")
    elif f.options:
        raise _fail(f"{p}.options", "only a select field has options")
    limit = f.max_length
    if limit is not None:
        if kind not in ("text",):
            raise _fail(f"{p}.max_length", "only a text field has max_length")
        cap = MAX_NAME if f.key == "name" else MAX_TEXT_VALUE
        if not 1 <= limit <= cap:
            raise _fail(f"{p}.max_length", f"must be 1-{cap}")
    return FieldSpec(key=f.key, label=label, type=kind, required=f.required,
                     options=options, max_length=limit, placeholder=placeholder)


def consent_version(text: str) -> str:
    """A stable id of a consent wording: the first 12 hex digits of its sha256."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:12]


def parse_config(data: Any) -> PrechatConfig:
    """Validate a config (a decoded JSON object); the normalised config, or
    PrechatConfigError naming the field path."""
    if not isinstance(data, dict):
        raise _fail("", "the config must be a JSON object")
    try:
        raw = msgspec.convert(data, PrechatConfig)
    except msgspec.ValidationError as exc:
        raise _from_msgspec(exc) from None
    welcome = _text("welcome", raw.welcome, 500)
    region = raw.phone_region.strip().upper()
    if region and not _REGION.match(region):
        raise _fail("phone_region", "an ISO 3166 alpha-2 code such as DE")
    if len(raw.fields) > MAX_FIELDS:
        raise _fail("fields", f"at most {MAX_FIELDS} fields")
    fields = tuple(_check_field(i, f) for i, f in enumerate(raw.fields))
    seen: set[str] = set()
    for i, f in enumerate(fields):
        if f.key in seen:
            raise _fail(f"fields[{i}].key", f"duplicate key {f.key!r}")
        seen.add(f.key)
    consent = None
    if raw.consent is not None:
        text = _text("consent.text", raw.consent.text, 1000, required=True)
        version = raw.consent.version.strip()
        if version and not _VERSION.match(version):
            raise _fail("consent.version", "1-40 characters of [A-Za-z0-9._-]")
        consent = ConsentSpec(text=text, version=version or consent_version(text),
                              required=raw.consent.required)
    if raw.enabled and not fields and consent is None:
        raise _fail("fields", "an enabled form needs at least one field or a consent")
    return PrechatConfig(enabled=raw.enabled, welcome=welcome, phone_region=region,
                         fields=fields, consent=consent)


def away_form(cfg: PrechatConfig) -> PrechatConfig:
    """The form shown while nobody can answer: the configured one (or a bare one) with a
    required email, so the customer can leave a message and be answered by mail."""
    fields = list(cfg.fields if cfg.enabled else ())
    email = FieldSpec(key="email", label="Your email", type="email", required=True)
    for i, f in enumerate(fields):
        if f.key == "email":
            fields[i] = msgspec.structs.replace(f, required=True)
            break
    else:
        fields.insert(1 if fields and fields[0].key == "name" else 0, email)
    return msgspec.structs.replace(cfg, enabled=True, fields=tuple(fields),
                                   consent=cfg.consent if cfg.enabled else None)


def returning_form(cfg: PrechatConfig) -> PrechatConfig:
    """What a visitor who already submitted (or already has a contact) may send: a retry
    of their submission or the away box's email. Every field optional (nothing is asked
    of them), still validated (email syntax, phone, options, lengths)."""
    base = away_form(cfg)
    return msgspec.structs.replace(
        base, fields=tuple(msgspec.structs.replace(f, required=False) for f in base.fields),
        consent=(msgspec.structs.replace(base.consent, required=False)
                 if base.consent else None))


# ---- answers --------------------------------------------------------------------------


def _clean_line(value: str) -> str:
    return " ".join(value.split())


def validate_answers(cfg: PrechatConfig, values: Mapping[str, Any], consent: bool | None,
                     now: datetime, *, region: str = "") -> Answers:
    """Check every field of ``cfg`` against ``values``; PrechatInvalid lists each
    problem by field key (``consent`` for the consent box)."""
    errors: dict[str, str] = {}
    known = {f.key for f in cfg.fields}
    for key in values:
        if key not in known:
            errors[str(key)[:40]] = "not a field of this form"
    out: dict[str, Any] = {}
    custom: dict[str, str | bool] = {}
    phone_region = region.upper() if _REGION.match(region.upper()) else cfg.phone_region
    for f in cfg.fields:
        raw = values.get(f.key)
        if f.type == "checkbox":
            if raw is not None and not isinstance(raw, bool):
                errors[f.key] = "must be true or false"
                continue
            checked = bool(raw)
            if f.required and not checked:
                errors[f.key] = "must be checked"
                continue
            custom[f.key] = checked
            continue
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            errors[f.key] = "must be text"
            continue
        text = _clean_line(raw)
        if not text:
            if f.required:
                errors[f.key] = "required"
            continue
        if any(ord(c) < 32 for c in raw if c not in "\n\t\r"):
            errors[f.key] = "control characters are not allowed"
            continue
        if f.type == "email":
            try:
                text = normalise_identity("email", text).value
            except BadInput:
                errors[f.key] = "not a valid email address (name@example.com)"
                continue
        elif f.type == "phone":
            try:
                text = normalise_identity("phone", text, default_region=phone_region).value
            except BadInput:
                errors[f.key] = ("not a valid phone number" + (
                    "" if phone_region else "; include the country code (+49 …)"))
                continue
        elif f.type == "select":
            if text not in f.options:
                errors[f.key] = "choose one of the options"
                continue
        else:
            cap = f.max_length or (MAX_NAME if f.key == "name" else MAX_TEXT_VALUE)
            if len(text) > cap:
                errors[f.key] = f"at most {cap} characters"
                continue
        if f.key in STANDARD:
            out[f.key] = text
        else:
            custom[f.key] = text
    given: Consent | None = None
    if cfg.consent is not None:
        if consent is not None and not isinstance(consent, bool):
            errors["consent"] = "must be true or false"
        elif cfg.consent.required and not consent:
            errors["consent"] = "please agree to continue"
        else:
            given = Consent(given=bool(consent), text=cfg.consent.text,
                            version=cfg.consent.version, at=now)
    if errors:
        raise PrechatInvalid(errors)
    return Answers(name=out.get("name", ""), email=out.get("email", ""),
                   phone=out.get("phone", ""), custom=custom, consent=given)


def routing_attributes(answers: Answers) -> dict[str, str | bool]:
    """What queue filters see of a submission: ``attrs.<key>`` per custom field."""
    return {f"attrs.{k}": v for k, v in answers.custom.items()}


def public_form(cfg: PrechatConfig) -> dict[str, Any]:
    """What the widget renders (the config minus nothing secret; explicit for clarity)."""
    return {
        "welcome": cfg.welcome, "phone_region": cfg.phone_region,
        "fields": [{"key": f.key, "label": f.label, "type": f.type, "required": f.required,
                    "options": list(f.options), "max_length": f.max_length,
                    "placeholder": f.placeholder} for f in cfg.fields],
        "consent": ({"text": cfg.consent.text, "version": cfg.consent.version,
                     "required": cfg.consent.required} if cfg.consent else None),
    }
