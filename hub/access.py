"""The access policy: the one place that answers "may this principal do this?".

Pure: data in (who asks, which action, the resource's inbox and owner), decision out. No
I/O; the stores load the resource and then ask here. REST routes declare their action
(``web/routing_kit.agent_route``), the agent socket asks per frame, and the stores ask
for the resource-level part (inbox membership, ownership).

Principals: an anonymous caller, an agent (role ``agent`` < ``supervisor`` < ``admin``;
agents also carry the inboxes they are members of), or a bot (a bearer token scoped to
the queues it fronts). Supervisors and admins see every inbox; an agent sees the inboxes
it is a member of. A refused action is 401 (nobody logged in) or 403 (the role is
missing, the inbox is not the agent's, or the resource belongs to another agent); a
missing resource stays the store's 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from hub.errors import Forbidden, Unauthorized

Role = Literal["agent", "supervisor", "admin"]


class Agent(Protocol):
    """Who asks (``hub.schema.Agent`` fits): the policy needs no more than this, and
    importing nothing of the schema keeps the schema free to ask the policy."""

    @property
    def id(self) -> int: ...
    @property
    def role(self) -> Role: ...
    @property
    def inboxes(self) -> list[str]: ...

Principal = Literal["anonymous", "agent", "bot"]
# ``inbox``: the resource belongs to an inbox the agent must see. ``owner``: on top of
# that, a plain agent may act only on what is unassigned or its own.
Scope = Literal["none", "inbox", "owner"]

_RANK: dict[str, int] = {"agent": 0, "supervisor": 1, "admin": 2}


@dataclass(frozen=True)
class Rule:
    principal: Principal
    role: Role | None = None  # least agent role; None for bots and anonymous callers
    scope: Scope = "none"


def _agent(role: Role = "agent", scope: Scope = "none") -> Rule:
    return Rule("agent", role, scope)


# Every action the hub knows. A route or socket frame names one of these; the route
# table test (tests/test_access_routes.py) fails for a route that names none.
RULES: dict[str, Rule] = {
    # the agent's own session and pages
    "session.me": _agent(),
    "page.inbox": _agent(),
    "page.admin": _agent("admin"),
    "socket.agent": _agent(),  # /ws/agent; each frame then asks for its own action
    # conversations
    "conversation.list": _agent(),
    "conversation.view": _agent(scope="inbox"),
    "conversation.reply": _agent(scope="inbox"),  # replies and private notes
    "conversation.assign": _agent(scope="inbox"),  # self-assign / release own
    "conversation.assign_others": _agent("supervisor", scope="inbox"),
    "conversation.set_status": _agent(scope="inbox"),  # resolve, reopen, pending
    "conversation.upload": _agent(scope="inbox"),
    "conversation.template": _agent(scope="inbox"),
    "attachment.download": _agent(scope="inbox"),
    # contacts
    "contact.view": _agent(scope="inbox"),
    "contact.merge": _agent(scope="inbox"),
    "contact.verify": _agent(scope="inbox"),
    "contact.split": _agent("supervisor"),
    "contact.see_all": _agent("supervisor"),  # contacts outside the agent's inboxes
    # queues and routing
    "routing.offers": _agent(),
    "routing.answer_offer": _agent(),  # accept, decline, pick, complete, transfer
    "routing.presence": _agent(),
    "routing.see_everyone": _agent("supervisor"),  # others' offers and presence
    "queue.view": _agent(),
    "queue.reassign": _agent("supervisor"),
    "routing.configure": _agent("admin"),
    # the wallboard: supervisors; agents too when Settings.board_for_agents (may_see_board)
    "page.board": _agent(),
    "board.view": _agent(),
    "presence.set_others": _agent("supervisor"),  # a supervisor sets an agent away/offline
    # voice
    "call.view": _agent(scope="inbox"),
    "call.wrapup": _agent(scope="owner"),
    "callback.view": _agent(scope="inbox"),
    "callback.call": _agent(scope="owner"),
    "voice.scripts": _agent(),  # read the scripts and dispositions
    "voice.script_step": _agent(scope="inbox"),
    "voice.configure": _agent("admin"),
    # administration
    "admin.manage": _agent("admin"),
    "prechat.configure": _agent("admin"),
    "bots.view": _agent("supervisor"),
    "bots.manage": _agent("admin"),
    "sla.view": _agent("supervisor"),  # SLA policies: supervisors read them
    "sla.configure": _agent("admin"),  # and admins change them
    # a bot acting through its bearer token, on the conversations of its queues
    "bot.act": Rule("bot"),
}


def rule(action: str) -> Rule:
    """The rule of a known action (KeyError for a typo: a programming error)."""
    return RULES[action]


def role_at_least(role: str, needed: Role) -> bool:
    return _RANK.get(role, -1) >= _RANK[needed]


def sees_all_inboxes(role: str) -> bool:
    """Supervisors and admins are not limited to the inboxes they are members of."""
    return role_at_least(role, "supervisor")


def sees_inbox(role: str, inboxes: list[str] | frozenset[str], inbox: str) -> bool:
    return sees_all_inboxes(role) or inbox in inboxes


def visible_inboxes(agent: Agent) -> frozenset[str] | None:
    """The inboxes whose events and rows the agent may see; None means all."""
    return None if sees_all_inboxes(agent.role) else frozenset(agent.inboxes)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: int = 200  # the HTTP status of a refusal
    reason: str = ""

    def raise_if_denied(self) -> None:
        if self.allowed:
            return
        raise (Unauthorized if self.status == 401 else Forbidden)(self.reason)


ALLOW = Decision(True)


def decide(agent: Agent | None, action: str, *, inbox: str | None = None,
           owner: int | None = None) -> Decision:
    """May ``agent`` (None: nobody logged in) do ``action``? ``inbox`` and ``owner`` (the
    assignee/agent the resource belongs to) are given once the resource is loaded; without
    them only the role part is decided (a route's gate before the handler runs)."""
    r = rule(action)
    if r.principal == "anonymous":
        return ALLOW
    if r.principal == "bot":
        return Decision(False, 403, "needs a bot token")
    if agent is None:
        return Decision(False, 401, "log in first")
    if r.role is not None and not role_at_least(agent.role, r.role):
        return Decision(False, 403, f"needs the {r.role} role")
    if r.scope != "none" and inbox is not None and not sees_inbox(agent.role, agent.inboxes,
                                                                    inbox):
        return Decision(False, 403, "not a member of this inbox")
    if r.scope == "owner" and owner is not None and owner != agent.id and \
            not sees_all_inboxes(agent.role):
        return Decision(False, 403, "this belongs to another agent")
    return ALLOW


def may_see_board(agent: Agent, agents_allowed: bool) -> Decision:
    """The wallboard is for supervisors and admins; plain agents only when the operator's
    setting allows it (the route's rule lets agents through to this check)."""
    if agents_allowed or sees_all_inboxes(agent.role):
        return ALLOW
    return Decision(False, 403, "the board is for supervisors")


def require(agent: Agent | None, action: str, *, inbox: str | None = None,
            owner: int | None = None) -> None:
    """``decide`` and raise Unauthorized/Forbidden on a refusal."""
    decide(agent, action, inbox=inbox, owner=owner).raise_if_denied()


def allows(agent: Agent | None, action: str, *, inbox: str | None = None,
           owner: int | None = None) -> bool:
    return decide(agent, action, inbox=inbox, owner=owner).allowed
