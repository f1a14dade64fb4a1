"""Presence: a pure function of the agent's chosen status, heartbeats and ``now``.

- The agent chooses available / away / busy / offline; that is their presence while
  their socket is alive (available shows as ``online``).
- The socket counts as lost at ``disconnected_at`` (a clean close) or, if heartbeats
  stop, at ``last_heartbeat_at + heartbeat_timeout_s``.
- For ``away_grace_s`` after the loss nothing changes (a page reload or a network
  blip keeps the agent routable), then the agent is ``away`` (auto-away), and
  ``offline`` from ``offline_after_s`` after the loss.

Only ``online`` agents receive offers. Helpers below return updated runtimes for
socket events; the store persists them.
"""

from __future__ import annotations

import msgspec

from hub.routing.config import PresenceConfig
from hub.routing.state import AgentRuntime, AgentStatus
from hub.schema import Presence

_CHOSEN: dict[str, Presence] = {
    "available": "online", "away": "away", "busy": "busy", "offline": "offline",
}


def lost_at(agent: AgentRuntime, cfg: PresenceConfig, now: float) -> float | None:
    """When the agent's connection counts as lost (None: it is alive at ``now``)."""
    if not agent.connected:
        if agent.disconnected_at is not None:
            return agent.disconnected_at
        return agent.last_heartbeat_at if agent.last_heartbeat_at is not None else -1e18
    if agent.last_heartbeat_at is None:
        return None  # connected, first heartbeat not due yet
    silent_from = agent.last_heartbeat_at + cfg.heartbeat_timeout_s
    return silent_from if now >= silent_from else None


def derive_presence(agent: AgentRuntime | None, cfg: PresenceConfig, now: float) -> Presence:
    """The agent's presence at ``now``."""
    if agent is None or agent.status == "offline":
        return "offline"
    chosen = _CHOSEN[agent.status]
    lost = lost_at(agent, cfg, now)
    if lost is None:
        return chosen
    gone = now - lost
    if gone < cfg.away_grace_s:
        return chosen
    if gone < cfg.offline_after_s:
        return "away"
    return "offline"


def next_presence_change(agent: AgentRuntime, cfg: PresenceConfig, now: float) -> float | None:
    """The next instant after ``now`` at which :func:`derive_presence` may change."""
    if agent.status == "offline":
        return None
    if agent.connected and agent.last_heartbeat_at is not None:
        silent_from = agent.last_heartbeat_at + cfg.heartbeat_timeout_s
        if now < silent_from:
            return silent_from
    lost = lost_at(agent, cfg, now)
    if lost is None:
        return None
    for t in (lost + cfg.away_grace_s, lost + cfg.offline_after_s):
        if t > now:
            return t
    return None


def connect(agent: AgentRuntime, now: float) -> AgentRuntime:
    """A socket opened for the agent."""
    return msgspec.structs.replace(agent, connected=True, last_heartbeat_at=now,
                                   disconnected_at=None)


def heartbeat(agent: AgentRuntime, now: float) -> AgentRuntime:
    """A heartbeat (ping/pong or app-level) arrived."""
    return msgspec.structs.replace(agent, connected=True, last_heartbeat_at=now,
                                   disconnected_at=None)


def disconnect(agent: AgentRuntime, now: float) -> AgentRuntime:
    """The agent's last socket closed."""
    return msgspec.structs.replace(agent, connected=False, disconnected_at=now)


def set_status(agent: AgentRuntime, status: AgentStatus) -> AgentRuntime:
    """The agent chose a status in the inbox."""
    return msgspec.structs.replace(agent, status=status)
