"""The routing test builders (tests/fixtures/routing_state.py) check out themselves."""

from __future__ import annotations

from hub.routing import RouterState
from tests.fixtures.routing_state import add_item, make_config, offered_to, online, step, units_used


def test_make_config_and_step() -> None:
    cfg = make_config([{"id": "q"}], [{"id": 1, "queues": ["q"]}])
    state = add_item(cfg, RouterState(agents=online(1)), 7, 0.0)
    state, decisions = step(cfg, state, 1.0)
    assert offered_to(decisions) == {7: [1]}
    assert units_used(state, 1, 1.0) == 20
