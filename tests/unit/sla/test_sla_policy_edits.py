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
