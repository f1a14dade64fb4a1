"""Checks on SLA wake-ups before they reach Redis (hub/sla/rules/wakeups.py), and the
timer keys' shared hash tag (one Redis Cluster slot per script)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.config import Settings
from hub.errors import BadInput
from hub.sla.rules.wakeups import (
    check_due,
    check_member,
    earliest_per_member,
    latest_per_member,
)
from hub.sla.schedule import timer_keys


@pytest.mark.parametrize("member", ["conv:1", "conv:123456789", "ticket:ab-12_3.x",
                                    "a:" + "9" * 96])
def test_clock_keys_are_accepted(member: str) -> None:
    assert check_member(member) == member


@pytest.mark.parametrize("member", ["", "conv", "conv:", ":1", "Conv:1", "conv:1 ",
                                    "conv:1|t", "conv:1\n", "conv:\u00e91", "a:" + "9" * 97,
                                    "x" * 33 + ":1", None, 5, b"conv:1"])
def test_other_members_are_refused(member: object) -> None:
    with pytest.raises(BadInput) as err:
        check_member(member)
    assert err.value.code == "bad_timer" and err.value.status == 400


@pytest.mark.parametrize("due", [float("nan"), float("inf"), -float("inf"), 0, -1.5,
                                 253402300800.0, 1e300, True, False, "1800000000", None])
def test_bad_dues_are_refused(due: object) -> None:
    with pytest.raises(BadInput):
        check_due(due)


def test_int_dues_become_floats() -> None:
    assert check_due(1_800_000_000) == 1_800_000_000.0
    assert isinstance(check_due(1_800_000_000), float)


@given(st.lists(st.tuples(st.sampled_from(["conv:1", "conv:2", "conv:3"]),
                          st.floats(min_value=1, max_value=4e9)), max_size=30))
def test_one_due_per_member_earliest_or_last(items: list[tuple[str, float]]) -> None:
    early = earliest_per_member(items)
    last = latest_per_member(items)
    assert set(early) == set(last) == {m for m, _ in items}
    for member in early:
        mine = [d for m, d in items if m == member]
        assert early[member] == min(mine)
        assert last[member] == mine[-1]


def test_one_bad_item_refuses_the_whole_batch() -> None:
    with pytest.raises(BadInput):
        earliest_per_member([("conv:1", 2e9), ("conv:2", float("nan"))])


def test_every_script_key_shares_one_hash_tag() -> None:
    keys = timer_keys(Settings(key_prefix="oh:"))
    tags = {re.search(r"\{([^}]*)\}", k).group(1) for k in keys.script_keys()}  # type: ignore[union-attr]
    assert tags == {"sla"}
