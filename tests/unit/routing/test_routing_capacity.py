"""Weighted per-channel capacity in integer units: 1 call, or 3 chats, or 5 emails, or a
mix; per-channel caps; pending offers and wrap-up count against capacity."""

from __future__ import annotations

import pytest

from hub.routing import RouterState, accept, apply, complete
from hub.routing.config import CompiledConfig
from tests.fixtures.routing_state import add_item, give, make_config, offered_to, online, step


def cfg(**capacity: object) -> CompiledConfig:
    return make_config([{"id": "q"}], [{"id": 1, "queues": ["q"]}],
                       capacity=capacity, wrapup_s={"default": 30})


def offered_count(config: CompiledConfig, channels: list[str]) -> list[int]:
    state = RouterState(agents=online(1))
    for i, ch in enumerate(channels):
        state = add_item(config, state, i, float(i), channel=ch)
    _, decisions = step(config, state, 100.0)
    return sorted(offered_to(decisions))


@pytest.mark.parametrize(("channel", "fits"), [("voice", 1), ("chat", 3), ("email", 5)])
def test_one_call_or_three_chats_or_five_emails(channel: str, fits: int) -> None:
    assert offered_count(cfg(), [channel] * 8) == list(range(fits))


def test_weighted_mix() -> None:
    # chat 20 + 3 emails 36 = 56 <= 60; a 4th email (68) does not fit, a call never does.
    assert offered_count(cfg(), ["chat", "email", "email", "email", "email", "voice"]) == [
        0, 1, 2, 3]
    # An item that does not fit does not block a lighter one behind it.
    assert offered_count(cfg(), ["chat", "chat", "voice", "email"]) == [0, 1, 3]


def test_custom_weights_and_per_channel_cap() -> None:
    config = cfg(units=100, weights={"voice": 50, "chat": 25}, max_per_channel={"voice": 1})
    assert offered_count(config, ["voice", "voice", "chat", "chat"]) == [0, 2, 3]


def test_agent_capacity_and_channel_cap_overrides() -> None:
    config = make_config([{"id": "q"}],
                         [{"id": 1, "queues": ["q"], "capacity": 40,
                           "max_per_channel": {"email": 1}}])
    assert offered_count(config, ["email", "email", "chat", "chat"]) == [0, 2]


def test_pending_offers_reserve_capacity() -> None:
    config = cfg()
    state = RouterState(agents=online(1))
    for i in range(3):
        state = add_item(config, state, i, 0.0)
    state, decisions = step(config, state, 0.0)
    assert sorted(offered_to(decisions)) == [0, 1, 2]
    state = add_item(config, state, 3, 1.0)
    state, decisions = step(config, state, 1.0)
    assert offered_to(decisions) == {}  # nothing accepted yet, but no room either


def test_wrapup_counts_until_it_ends() -> None:
    config = cfg()
    state = give(config, RouterState(agents=online(1)), 1, 1, channel="voice")
    state = apply(config, state, complete(config, state, 1, 1, 10.0), 10.0)
    state = add_item(config, state, 2, 10.0)
    state, decisions = step(config, state, 39.0)
    assert offered_to(decisions) == {}
    state, decisions = step(config, state, 40.0)
    assert offered_to(decisions) == {2: [1]}
    assert 1 not in state.items
    state = apply(config, state, accept(config, state, 2, 1, 41.0), 41.0)
    assert state.items[2].status == "assigned"
