"""One-policy edits of the stored list (hub/sla/rules/edits.py): placing, refusing, and
naming a loader error inside the policy the client sent."""

from __future__ import annotations

import pytest

from hub.errors import Conflict, NotFound
from hub.sla.rules import edits
from hub.sla.rules.load import SlaPolicyError

A, B = {"id": "a"}, {"id": "b"}


def test_add_appends_replace_keeps_the_place_remove_drops() -> None:
    assert edits.add([A], B) == ([A, B], 1)
    new_a = {"id": "a", "name": "new"}
    assert edits.replace([A, B], "a", new_a) == ([new_a, B], 0)
    assert edits.remove([A, B], "a") == [B]


def test_refusals() -> None:
    with pytest.raises(Conflict):
        edits.add([A], {"id": "a"})
    with pytest.raises(NotFound):
        edits.replace([A], "b", {"id": "b"})
    with pytest.raises(NotFound):
        edits.remove([A], "b")
    with pytest.raises(SlaPolicyError, match=r"^id: must be 'a'"):
        edits.replace([A], "a", {"id": "b"})
    for body, path in [([], ""), ({"name": "x"}, "id"), ({"id": 3}, "id"),
                       ({"id": "versions"}, "id")]:
        with pytest.raises(SlaPolicyError) as caught:
            edits.policy_body(body)
        assert caught.value.path == path


def test_errors_in_the_edited_policy_name_its_own_fields() -> None:
    err = SlaPolicyError("policies[1].targets.resolution.seconds", "must be >= 1")
    inside = edits.policy_error(err, 1)
    assert (inside.path, inside.reason) == ("targets.resolution.seconds",
                                            "targets.resolution.seconds: must be >= 1")
    whole = edits.policy_error(SlaPolicyError("policies[1]", "bad"), 1)
    assert whole.path == "" and whole.reason == "bad"
    # Another policy's error (e.g. a queue routing removed since) keeps the document path.
    assert edits.policy_error(err, 0) is err
    assert edits.policy_error(err, None) is err


def test_a_routing_yaml_section_must_be_newer_and_is_named_from_the_top() -> None:
    assert edits.check_section_version({"version": 4}, 3) == 4
    for section, path in [({"version": 3}, "version"), ({}, "version"),
                          ({"version": True}, "version"), ([], "")]:
        with pytest.raises(SlaPolicyError) as caught:
            edits.check_section_version(section, 3)
        assert caught.value.path == path
    assert edits.section_error(SlaPolicyError("policies[0].when", "x")).path == \
        "sla.policies[0].when"
    assert edits.section_error(SlaPolicyError("", "x")).path == "sla"


def test_routing_ignores_the_sla_section_of_its_document() -> None:
    from hub.routing.loader import load_config

    doc = {"version": 1, "queues": [{"id": "support"}]}
    with_sla = load_config({**doc, "sla": {"version": 1, "policies": []}})
    assert with_sla.content_hash == load_config(doc).content_hash


def test_reorder_names_every_policy_once() -> None:
    assert edits.reorder([A, B], ["b", "a"]) == [B, A]
    for ids in (["a"], ["a", "a"], ["a", "c"], "a,b", [1, 2], ["a", "b", "b"]):
        with pytest.raises(SlaPolicyError) as caught:
            edits.reorder([A, B], ids)
        assert caught.value.path == "ids"
