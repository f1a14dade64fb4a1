"""hub/access.py without servers: the policy's decisions for each principal, role,
inbox and owner (docs/security.md, "Access policy")."""

from __future__ import annotations

import pytest

from hub import access
from hub.errors import Forbidden, Unauthorized
from hub.schema import Agent


def _agent(role: str = "agent", inboxes: tuple[str, ...] = ("web",), id: int = 7) -> Agent:
    return Agent(id=id, name="n", email="n@x", role=role, inboxes=list(inboxes))  # type: ignore[arg-type]


def test_every_rule_is_well_formed():
    for name, rule in access.RULES.items():
        assert "." in name
        assert rule.principal in ("anonymous", "agent", "bot")
        assert (rule.role is None) == (rule.principal != "agent"), name
        assert rule.scope in ("none", "inbox", "owner")


def test_nobody_logged_in_is_401_and_a_missing_role_403():
    assert access.decide(None, "conversation.list").status == 401
    with pytest.raises(Unauthorized):
        access.require(None, "session.me")
    d = access.decide(_agent(), "admin.manage")
    assert (d.allowed, d.status, d.reason) == (False, 403, "needs the admin role")
    with pytest.raises(Forbidden):
        access.require(_agent("supervisor"), "bots.manage")
    assert access.allows(_agent("supervisor"), "bots.view")
    assert access.allows(_agent("admin"), "bots.manage")


def test_inbox_scope_limits_agents_but_not_supervisors():
    agent = _agent(inboxes=("web",))
    assert access.allows(agent, "conversation.view", inbox="web")
    assert not access.allows(agent, "conversation.view", inbox="mail")
    assert access.allows(agent, "conversation.view")  # the route's gate: role only
    for role in ("supervisor", "admin"):
        assert access.allows(_agent(role, ()), "conversation.reply", inbox="mail")
    assert access.visible_inboxes(agent) == frozenset({"web"})
    assert access.visible_inboxes(_agent("supervisor")) is None


def test_owner_scope_is_unassigned_or_mine_for_agents():
    agent = _agent(id=7)
    assert access.allows(agent, "call.wrapup", inbox="web", owner=None)
    assert access.allows(agent, "call.wrapup", inbox="web", owner=7)
    d = access.decide(agent, "callback.call", inbox="web", owner=8)
    assert (d.allowed, d.status) == (False, 403)
    assert access.allows(_agent("supervisor"), "callback.call", inbox="web", owner=8)
    assert not access.allows(agent, "call.wrapup", inbox="mail", owner=7)


def test_assigning_others_and_splitting_contacts_need_a_supervisor():
    assert not access.allows(_agent(), "conversation.assign_others", inbox="web")
    assert access.allows(_agent("supervisor"), "conversation.assign_others", inbox="web")
    assert not access.allows(_agent(), "contact.split")
    assert access.allows(_agent("admin"), "contact.see_all")


def test_bot_actions_are_not_agent_actions():
    for role in ("agent", "supervisor", "admin"):
        assert access.decide(_agent(role), "bot.act").status == 403


def test_an_unknown_action_is_a_programming_error():
    with pytest.raises(KeyError):
        access.decide(_agent(), "conversation.delete_everything")


def test_an_unknown_role_is_below_every_role():
    assert not access.role_at_least("guest", "agent")
