"""Pre-chat form, pure core (hub/contacts/rules/prechat.py): config validation with field paths, and
server-side validation of every field kind."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from hub.contacts.rules.prechat import (
    PrechatConfigError,
    PrechatInvalid,
    away_form,
    parse_config,
    routing_attributes,
    validate_answers,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GOOD: dict[str, Any] = {
    "enabled": True, "welcome": "Hi! Who are we talking to?", "phone_region": "de",
    "fields": [
        {"key": "name", "label": "Your name", "required": True},
        {"key": "email", "label": "Email", "required": True},
        {"key": "phone", "label": "Phone"},
        {"key": "order_no", "label": "Order number", "type": "text", "max_length": 12},
        {"key": "topic", "label": "Topic", "type": "select", "required": True,
         "options": ["Billing", "Shipping"]},
        {"key": "terms_read", "label": "I read the FAQ", "type": "checkbox"},
    ],
    "consent": {"text": "I agree to the privacy policy."},
}


def test_good_config_is_normalised():
    cfg = parse_config(GOOD)
    assert cfg.phone_region == "DE"
    assert [f.type for f in cfg.fields] == ["text", "email", "phone", "text", "select",
                                            "checkbox"]
    assert cfg.consent is not None and cfg.consent.version.startswith("sha256:")
    assert cfg.consent.required is True
    # Same text, same version; explicit versions are kept.
    assert parse_config(GOOD).consent == cfg.consent
    explicit = parse_config({**GOOD, "consent": {"text": "x", "version": "2026-01"}})
    assert explicit.consent is not None and explicit.consent.version == "2026-01"


def _with_field(i: int, **change: Any) -> dict[str, Any]:
    fields = [dict(f) for f in GOOD["fields"]]
    fields[i] = {**fields[i], **change}
    return {**GOOD, "fields": fields}


@pytest.mark.parametrize(("config", "path"), [
    ("nope", ""),
    ({**GOOD, "surprise": 1}, "surprise"),
    ({**GOOD, "enabled": "yes"}, "enabled"),
    ({**GOOD, "welcome": "x" * 501}, "welcome"),
    ({**GOOD, "phone_region": "Germany"}, "phone_region"),
    ({**GOOD, "fields": [], "consent": None}, "fields"),  # enabled, nothing to ask
    (_with_field(0, key="Name!"), "fields[0].key"),
    (_with_field(0, key="inbox"), "fields[0].key"),  # reserved
    (_with_field(1, key="name"), "fields[1].key"),  # duplicate
    (_with_field(1, type="text"), "fields[1].type"),  # email is always email
    (_with_field(3, type=None), "fields[3].type"),
    (_with_field(3, type="date"), "fields[3].type"),
    (_with_field(3, max_length=0), "fields[3].max_length"),
    (_with_field(4, options=[]), "fields[4].options"),
    (_with_field(4, options=["a", "a"]), "fields[4].options"),
    (_with_field(4, options=["a", " "]), "fields[4].options[1]"),
    (_with_field(5, options=["x"]), "fields[5].options"),
    (_with_field(5, max_length=3), "fields[5].max_length"),
    (_with_field(2, label="x" * 101), "fields[2].label"),
    (_with_field(2, colour="red"), "fields[2].colour"),
    ({**GOOD, "consent": {"text": ""}}, "consent.text"),
    ({**GOOD, "consent": {"text": "ok", "version": "bad version"}}, "consent.version"),
    ({**GOOD, "consent": {"version": "1"}}, "consent.text"),
    ({**GOOD, "fields": [{"key": f"f{i}", "type": "text"} for i in range(21)]}, "fields"),
])
def test_bad_config_names_the_field(config, path):
    with pytest.raises(PrechatConfigError) as err:
        parse_config(config)
    assert err.value.path == path, err.value.reason
    assert err.value.status == 422


def test_every_field_kind_validates_and_normalises():
    cfg = parse_config(GOOD)
    a = validate_answers(cfg, {
        "name": "  Ann   Lee ", "email": " Ann@Example.COM ", "phone": "030 1234567",
        "order_no": "A-1", "topic": "Billing", "terms_read": True}, True, NOW)
    assert (a.name, a.email, a.phone) == ("Ann Lee", "ann@example.com", "+49301234567")
    assert a.custom == {"order_no": "A-1", "topic": "Billing", "terms_read": True}
    assert a.consent is not None and a.consent.given and a.consent.at == NOW
    assert a.consent.text == "I agree to the privacy policy."
    assert routing_attributes(a) == {"attrs.order_no": "A-1", "attrs.topic": "Billing",
                                     "attrs.terms_read": True}
    # The widget's region wins over the inbox's for numbers without +<country>.
    us = validate_answers(cfg, {"name": "B", "email": "b@x.io", "phone": "(201) 555-0123",
                                "topic": "Billing"}, True, NOW, region="US")
    assert us.phone == "+12015550123" and us.custom["terms_read"] is False


def test_every_problem_is_reported_per_field():
    cfg = parse_config(GOOD)
    with pytest.raises(PrechatInvalid) as err:
        validate_answers(cfg, {"name": "", "email": "ann(at)example", "phone": "12",
                               "order_no": "x" * 13, "topic": "Refunds", "terms_read": "yes",
                               "hacker": "1"}, False, NOW)
    assert set(err.value.fields) == {"name", "email", "phone", "order_no", "topic",
                                     "terms_read", "hacker", "consent"}
    assert err.value.status == 422 and err.value.code == "invalid_prechat"
    with pytest.raises(PrechatInvalid) as err:
        validate_answers(cfg, {"name": 5, "email": "a@b.c", "topic": ["Billing"]}, True, NOW)
    assert set(err.value.fields) == {"name", "topic"}
    with pytest.raises(PrechatInvalid) as err:  # control characters
        validate_answers(cfg, {"name": "Ann\x00", "email": "a@b.c", "topic": "Billing"},
                         True, NOW)
    assert set(err.value.fields) == {"name"}


def test_required_checkbox_and_optional_consent():
    cfg = parse_config({"enabled": True, "fields": [
        {"key": "adult", "label": "I am 18+", "type": "checkbox", "required": True}],
        "consent": {"text": "Newsletter?", "required": False}})
    with pytest.raises(PrechatInvalid) as err:
        validate_answers(cfg, {"adult": False}, None, NOW)
    assert err.value.fields == {"adult": "must be checked"}
    a = validate_answers(cfg, {"adult": True}, None, NOW)
    assert a.consent is not None and a.consent.given is False  # stored as declined


def test_away_form_requires_an_email():
    bare = away_form(parse_config({}))
    assert [(f.key, f.required) for f in bare.fields] == [("email", True)]
    with pytest.raises(PrechatInvalid) as err:
        validate_answers(bare, {}, None, NOW)
    assert err.value.fields == {"email": "required"}
    cfg = parse_config({**GOOD, "fields": [GOOD["fields"][0], {"key": "phone"}]})
    away = away_form(cfg)
    assert [(f.key, f.required) for f in away.fields] == [
        ("name", True), ("email", True), ("phone", False)]
    assert away.consent == cfg.consent
    optional_email = parse_config({**GOOD, "fields": [{"key": "email"}]})
    assert [(f.key, f.required) for f in away_form(optional_email).fields] == [
        ("email", True)]


def test_demo_seed_form_is_valid():
    from web.seed import DEMO_PRECHAT

    cfg = parse_config(DEMO_PRECHAT)
    assert cfg.enabled and [f.key for f in cfg.fields][:2] == ["name", "email"]


def test_custom_fields_reach_queue_filters_as_attrs():
    """What hub/routing/reconcile.py hands to queue filters for a conversation whose
    first message carried pre-chat answers (stored as ``attrs.<key>``)."""
    import json

    from hub.routing.expr import matches, parse
    from hub.routing.reconcile import routing_attributes as queue_attributes

    a = validate_answers(parse_config(GOOD), {
        "name": "A", "email": "a@b.io", "topic": "Billing", "terms_read": True}, True, NOW)
    row = {"inbox": "web", "queue": "support", "tier": "standard", "locale": "en",
           "msg_attrs": json.dumps(routing_attributes(a)), "attrs": "{}"}
    attrs = queue_attributes(row)  # type: ignore[arg-type]
    assert matches(parse('attrs.topic == "Billing" and attrs.terms_read == true'), attrs)
    assert not matches(parse('attrs.topic in ["Shipping"]'), attrs)
