"""BCP 47 language matching (hub/languages.py) and its users: routing requirements,
queue filters, routing attributes, e-mail acknowledgement templates."""

from __future__ import annotations

from channels.email.templates import ACK_TEMPLATES, AckTemplate, choose_template
from hub.languages import (
    fallback_chain,
    language_matches,
    lookup,
    normalize_tag,
    primary_language,
    speaks,
)
from hub.routing.config import AgentProfile
from hub.routing.expr import matches, parse
from hub.routing.strategies import Requirements, qualifies


def test_normalize_and_fallback_chain() -> None:
    assert normalize_tag(" en_US ") == "en-us"
    assert normalize_tag(None) == ""
    assert fallback_chain("zh-Hant-TW") == ["zh-hant-tw", "zh-hant", "zh"]
    assert fallback_chain("") == []
    assert primary_language("en-US") == "en"
    assert primary_language("") == ""


def test_region_tags_fall_back_to_the_language_case_insensitively() -> None:
    assert language_matches("en-US", "en")
    assert language_matches("EN-us", "En")
    assert language_matches("pt_BR", "pt-br")
    assert language_matches("en", "en-GB")         # an en-GB speaker speaks en
    assert not language_matches("en-US", "en-GB")  # but not the other region
    assert not language_matches("en", "es")
    assert not language_matches("e", "en")         # a prefix only at a subtag boundary
    assert not language_matches("", "en") and not language_matches("en", None)
    assert speaks("en-US", ["de", "en"]) and not speaks("fr-CA", ["de", "en"])


def test_lookup_picks_the_most_specific_listed_tag() -> None:
    assert lookup("pt-BR", ["pt", "pt-br"]) == "pt-br"
    assert lookup("pt-PT", ["pt", "pt-br"]) == "pt"
    assert lookup("de-AT", ["DE", "en"]) == "DE"    # returned as listed
    assert lookup("fr", ["de", "en"]) is None


def test_routing_requirement_en_us_is_served_by_an_en_agent() -> None:
    en_agent = AgentProfile(id=1, languages=("en", "de"))
    fr_agent = AgentProfile(id=2, languages=("fr",))
    req = Requirements({}, "en-US")
    assert qualifies(en_agent, req)
    assert not qualifies(fr_agent, req)
    assert qualifies(AgentProfile(id=3), req)  # no languages listed: any


def test_queue_filters_compare_languages_by_fallback() -> None:
    assert matches(parse('language_matches(language, "en")'), {"language": "en-US"})
    assert not matches(parse('language_matches(language, "de")'), {"language": "en-US"})
    assert not matches(parse('language_matches(language, "en")'), {"language": None})


def test_routing_attributes_carry_the_primary_language_and_the_tag() -> None:
    from hub.routing.reconcile import routing_attributes

    row = {"inbox": "phone", "queue": "support", "tier": "standard", "locale": "",
           "msg_attrs": "{}", "attrs": '{"kind": "callback", "language": "en-US"}'}
    attrs = routing_attributes(row)  # type: ignore[arg-type]
    assert attrs["language"] == "en" and attrs["language_tag"] == "en-us"
    row = {**row, "locale": "de-AT", "attrs": "{}"}
    assert routing_attributes(row)["language"] == "de"  # type: ignore[arg-type]


def test_ack_template_lookup_uses_the_same_fallback() -> None:
    assert choose_template("de-AT", ACK_TEMPLATES).language == "de"
    assert choose_template("xx", ACK_TEMPLATES).language == "en"
    own = {"pt-br": AckTemplate("pt-br", "Olá"), "pt": AckTemplate("pt", "Olá!")}
    assert choose_template("pt_BR", own).language == "pt-br"
    assert choose_template("pt-PT", own).language == "pt"
