"""What the widget socket and the pre-chat route share: the inbox's form (cached a few
seconds per process), whether a visitor still has to fill it in, and whether anyone can
answer right now (business hours and presence, read from the router's own state).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette

from hub.admin.store import inboxes as inboxes_store
from hub.contacts.rules.identity import identity_key
from hub.contacts.rules.prechat import PrechatConfig, away_form, returning_form
from hub.contacts.store import identities as identity_store
from hub.contacts.store.prechat import get_form
from hub.routing.configstore import ConfigCache
from hub.routing.hours import is_open, next_open
from hub.routing.presence import derive_presence
from hub.routing.store import AGENT_FIELDS, parse_agent, router_keys
from hub.schema import Identity
from web.state import HubState

FORM_TTL_S = 5.0
AVAILABILITY_TTL_S = 3.0
SUBMITTED_TTL_S = 7 * 86400


def _cache(app: Starlette, name: str) -> dict[str, tuple[float, Any]]:
    found: dict[str, tuple[float, Any]] | None = getattr(app.state, name, None)
    if found is None:
        found = {}
        setattr(app.state, name, found)
    return found


async def inbox_form(app: Starlette, state: HubState, inbox: str) -> PrechatConfig:
    cache = _cache(app, "prechat_forms")
    hit = cache.get(inbox)
    now = time.monotonic()
    if hit and now - hit[0] < FORM_TTL_S:
        cfg: PrechatConfig = hit[1]
        return cfg
    cfg = (await get_form(state.pool, inbox))[0]
    cache[inbox] = (now, cfg)
    return cfg


def forget_form(app: Starlette, inbox: str) -> None:
    """After an admin write: this process sees the new form at once (others within
    FORM_TTL_S)."""
    _cache(app, "prechat_forms").pop(inbox, None)


def _submitted_key(state: HubState, inbox: str, identity: Identity) -> str:
    return f"{state.settings.key_prefix}prechat:{inbox}:{identity_key(identity)}"


async def mark_submitted(state: HubState, inbox: str, identity: Identity) -> None:
    """Set once the submission is on the ingest stream: the visitor may chat on before
    the pipeline has created the contact."""
    await state.redis.set(_submitted_key(state, inbox, identity), b"1", ex=SUBMITTED_TTL_S)


async def visitor_is_known(state: HubState, inbox: str, identity: Identity) -> bool:
    """A returning visitor: their identity has a contact, or they submitted the form."""
    if await state.redis.exists(_submitted_key(state, inbox, identity)):
        return True
    return await identity_store.identity_exists(state.pool, identity.kind, identity.value)


async def availability(app: Starlette, state: HubState, inbox: str) -> dict[str, Any]:
    """``{"online": bool, "reason": None | "outside_hours" | "no_agents_online",
    "next_open": iso | None}`` for the inbox's default queue, from the routing config
    (business hours) and the agents' presence inputs the router itself reads."""
    cache = _cache(app, "widget_availability")
    hit = cache.get(inbox)
    mono = time.monotonic()
    if hit and mono - hit[0] < AVAILABILITY_TTL_S:
        cached: dict[str, Any] = hit[1]
        return cached
    result = await _availability(app, state, inbox)
    cache[inbox] = (mono, result)
    return result


async def _availability(app: Starlette, state: HubState, inbox: str) -> dict[str, Any]:
    queue = await inboxes_store.inbox_default_queue(state.pool, inbox)
    configs: ConfigCache | None = getattr(app.state, "routing_configs", None)
    if configs is None:  # the same cache the routing REST routes use
        configs = ConfigCache(state.pool, state.redis, state.settings)
        app.state.routing_configs = configs
    cfg = await configs.get()
    now = time.time()
    q = cfg.queues.get(queue)
    if q is not None and not is_open(q.hours, now):
        nxt = next_open(q.hours, now)
        return {"online": False, "reason": "outside_hours",
                "next_open": datetime.fromtimestamp(nxt, UTC).isoformat() if nxt else None}
    members = cfg.members.get(queue, ())
    if members:
        names = [f"{a}:{n}" for a in members for n in AGENT_FIELDS]
        raw = await state.redis.hmget(router_keys(state.settings).agents, names)  # type: ignore[misc]
        width = len(AGENT_FIELDS)
        for i, agent_id in enumerate(members):
            values = raw[i * width:(i + 1) * width]
            fields = {n: (v.decode() if isinstance(v, bytes) else str(v))
                      for n, v in zip(AGENT_FIELDS, values, strict=True) if v is not None}
            if not fields:
                continue
            presence = derive_presence(parse_agent(agent_id, fields), cfg.raw.presence, now)
            if presence == "online":
                return {"online": True, "reason": None, "next_open": None}
    return {"online": False, "reason": "no_agents_online", "next_open": None}


def form_to_show(cfg: PrechatConfig, avail: dict[str, Any]) -> PrechatConfig | None:
    """The form a NEW visitor must fill in before chatting (None: no form): the inbox's
    when it is enabled, with a required email while nobody can answer."""
    if not cfg.enabled:
        return None
    return cfg if avail.get("online", True) else away_form(cfg)


def form_to_check(cfg: PrechatConfig, avail: dict[str, Any], known: bool) -> PrechatConfig:
    """What a submission is validated against: the form a new visitor was shown; for a
    returning visitor (a retry, or the away box's email) the same fields, all optional."""
    if known:
        return returning_form(cfg)
    if not cfg.enabled:  # only the away box posts here: a required email
        return away_form(cfg)
    return cfg if avail.get("online", True) else away_form(cfg)
