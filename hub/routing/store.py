"""The router's runtime state in Redis: keys, field codec, snapshot load, presence writes.

Every key is ``<key_prefix>{rt}:<name>``: one hash tag, so the Lua scripts of
:mod:`hub.routing.atomic` may touch them all atomically (one Redis Cluster slot). The
set of keys is fixed; items and agents are fields of shared hashes
(``<id>:<field>``), so every script declares the same KEYS and never needs a key
computed inside Lua.

- ``agents``: ``<agent>:st`` chosen status, ``:cn`` connected ("1"/"0"), ``:hb`` last
  heartbeat, ``:dc`` disconnected at (presence inputs, written by socket events);
  ``:pub`` presence last announced, ``:la`` last assigned, ``:lf`` last freed (written by
  the scripts). An agent exists if it has any field.
- ``items``: ``<item>:ch`` channel, ``:w`` weight, ``:q`` queue (queue membership),
  ``:eq`` enqueued at, ``:st`` step, ``:ar`` auto-replied, ``:ag`` holder, ``:at``
  assigned at, ``:wu`` wrap-up until, ``:of`` offers, ``:s`` the static rest (priority,
  created_at, attrs, last_agent_id) as JSON. An item exists if it has ``:ch``.
- ``load``: ``<agent>`` units and ``<agent>:<channel>`` items counted against the agent:
  pending offers, held items and items in wrap-up until ``EndWrapup`` removes them.
- ``wrap``: sorted set item -> ``wrapup_until``; items whose wrap-up ended by ``now``
  are subtracted from ``load`` when the scripts check capacity (as ``state.loads``).
- ``held``: item -> holder, maintained independently of ``:ag`` as a tripwire.
- ``peak``: ``<agent>`` / ``<agent>:<channel>``: highest load the scripts ever produced.
- ``violations``: counters the scripts bump if an invariant is ever broken (must stay
  empty): ``double_holder``, ``holder_mismatch``, ``over_capacity``,
  ``over_channel_limit``, ``negative_load``.
- ``rr``: queue -> round-robin cursor (agent id).
- ``journal``: stream of every applied decision (``d`` JSON, ``n`` now, ``r`` reply),
  appended by the script itself; persisted to Postgres in order by hub/routing/persist.py.

Times are stored as the exact ``repr`` of the float the caller passed (Lua compares
them as doubles, Python reads them back with ``float``), so nothing drifts.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import redis.asyncio as aioredis

from hub.config import Settings
from hub.routing.expr import Value
from hub.routing.state import AgentRuntime, ItemState, Load, OfferRecord, RouterState

AGENT_FIELDS = ("st", "cn", "hb", "dc", "pub", "la", "lf")
ITEM_FIELDS = ("s", "ch", "w", "q", "eq", "st", "ar", "ag", "at", "wu", "of")


@dataclass(frozen=True)
class RouterKeys:
    agents: str
    items: str
    load: str
    peak: str
    violations: str
    held: str
    rr: str
    wrap: str
    journal: str

    def all(self) -> list[str]:
        """In the order the scripts expect them as KEYS."""
        return [self.agents, self.items, self.load, self.peak, self.violations, self.held,
                self.rr, self.wrap, self.journal]


def router_keys(settings: Settings) -> RouterKeys:
    base = settings.key_prefix + "{rt}:"
    return RouterKeys(*(base + n for n in ("agents", "items", "load", "peak", "violations",
                                           "held", "rr", "wrap", "journal")))


def num(x: float) -> str:
    """A time or amount as a string Lua's ``tonumber`` and Python's ``float`` read exactly."""
    return repr(float(x))


def opt(x: float | None) -> str:
    return "" if x is None else num(x)


class _Static(msgspec.Struct, frozen=True, kw_only=True):
    priority: int = 0
    created_at: float
    attrs: dict[str, Value] = {}
    last_agent_id: int | None = None


_static_enc = msgspec.json.Encoder()
_static_dec = msgspec.json.Decoder(_Static)


def encode_offers(offers: tuple[OfferRecord, ...]) -> str:
    return ";".join(f"{o.agent_id},{o.queue},{o.status},{num(o.offered_at)},"
                    f"{num(o.expires_at)},{opt(o.ended_at)}" for o in offers)


def decode_offers(text: str) -> tuple[OfferRecord, ...]:
    out: list[OfferRecord] = []
    for rec in filter(None, text.split(";")):
        agent, queue, status, offered, expires, ended = rec.split(",")
        out.append(OfferRecord(agent_id=int(agent), queue=queue, offered_at=float(offered),
                               expires_at=float(expires), status=status,  # type: ignore[arg-type]
                               ended_at=float(ended) if ended else None))
    return tuple(out)


def item_args(item: ItemState) -> list[str]:
    """The item's fields in ``ITEM_FIELDS`` order ('' = absent), for the enqueue script."""
    static = _static_enc.encode(_Static(priority=item.priority, created_at=item.created_at,
                                        attrs=item.attrs, last_agent_id=item.last_agent_id))
    return [static.decode(), item.channel, str(item.weight), item.queue, num(item.enqueued_at),
            str(item.step), "1" if item.auto_replied else "",
            "" if item.agent_id is None else str(item.agent_id), opt(item.assigned_at),
            opt(item.wrapup_until), encode_offers(item.offers)]


def _text(x: bytes | str) -> str:
    return x.decode() if isinstance(x, bytes) else x


def _group(raw: dict[bytes | str, bytes | str]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {}
    for k, v in raw.items():
        ident, _, name = _text(k).partition(":")
        out.setdefault(int(ident), {})[name] = _text(v)
    return out


def _f(fields: dict[str, str], name: str) -> float | None:
    value = fields.get(name)
    return float(value) if value else None


def parse_agent(agent_id: int, f: dict[str, str]) -> AgentRuntime:
    return AgentRuntime(
        id=agent_id, status=f.get("st", "available"),  # type: ignore[arg-type]
        connected=f.get("cn") == "1", last_heartbeat_at=_f(f, "hb"),
        disconnected_at=_f(f, "dc"), published=f.get("pub", "offline"),
        last_assigned_at=_f(f, "la"), last_freed_at=_f(f, "lf"))


def parse_item(item_id: int, f: dict[str, str]) -> ItemState:
    static = _static_dec.decode(f["s"])
    agent = f.get("ag")
    return ItemState(
        id=item_id, channel=f["ch"], queue=f["q"], weight=int(f["w"]),
        priority=static.priority, created_at=static.created_at,
        enqueued_at=float(f["eq"]), attrs=static.attrs, last_agent_id=static.last_agent_id,
        step=int(f.get("st", "0")), auto_replied=f.get("ar") == "1",
        agent_id=int(agent) if agent else None, assigned_at=_f(f, "at"),
        wrapup_until=_f(f, "wu"), offers=decode_offers(f.get("of", "")))


async def load_state(redis: aioredis.Redis, settings: Settings) -> RouterState:
    """A consistent snapshot (one MULTI/EXEC) of agents, items and cursors for ``decide``."""
    keys = router_keys(settings)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.agents)
        pipe.hgetall(keys.items)
        pipe.hgetall(keys.rr)
        agents_raw, items_raw, rr_raw = await pipe.execute()
    agents = {a: parse_agent(a, f) for a, f in _group(agents_raw).items()}
    items = {i: parse_item(i, f) for i, f in _group(items_raw).items() if "ch" in f}
    rr = {_text(k): int(v) for k, v in rr_raw.items()}
    return RouterState(agents=agents, items=items, rr_cursor=rr)


async def save_presence(redis: aioredis.Redis, settings: Settings, agent: AgentRuntime) -> None:
    """Write an agent's presence inputs (status, connection, heartbeat, disconnect) after a
    socket event (``presence.connect``/``heartbeat``/``disconnect``/``set_status``).

    Only these fields: ``published`` and the assignment times belong to the scripts, so
    a socket event never overwrites what a concurrent script wrote."""
    key = router_keys(settings).agents
    a = agent.id
    values = {f"{a}:st": agent.status, f"{a}:cn": "1" if agent.connected else "0"}
    absent = []
    for name, value in (("hb", agent.last_heartbeat_at), ("dc", agent.disconnected_at)):
        if value is None:
            absent.append(f"{a}:{name}")
        else:
            values[f"{a}:{name}"] = num(value)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=values)
        if absent:
            pipe.hdel(key, *absent)
        await pipe.execute()


async def load_agent(redis: aioredis.Redis, settings: Settings, agent_id: int) -> AgentRuntime:
    """One agent's runtime (defaults if unknown), e.g. before a socket event."""
    names = [f"{agent_id}:{n}" for n in AGENT_FIELDS]
    values = await redis.hmget(router_keys(settings).agents, names)  # type: ignore[misc]
    fields = {n: _text(v) for n, v in zip(AGENT_FIELDS, values, strict=True) if v is not None}
    return parse_agent(agent_id, fields)


def _loads(raw: dict[bytes | str, bytes | str]) -> dict[int, Load]:
    out: dict[int, Load] = {}
    for k, v in raw.items():
        ident, _, channel = _text(k).partition(":")
        load = out.setdefault(int(ident), Load())
        if channel:
            load.per_channel[channel] = int(v)
            load.items += int(v)
        else:
            load.units = int(v)
    return out


async def read_loads(redis: aioredis.Redis, settings: Settings) -> dict[int, Load]:
    """The ``load`` counters (wrap-ups count until ``EndWrapup``; see :func:`counted_loads`)."""
    return _loads(await redis.hgetall(router_keys(settings).load))  # type: ignore[misc]


async def read_peaks(redis: aioredis.Redis, settings: Settings) -> dict[int, Load]:
    """Per agent, the highest units and per-channel counts the scripts ever produced."""
    return _loads(await redis.hgetall(router_keys(settings).peak))  # type: ignore[misc]


async def read_violations(redis: aioredis.Redis, settings: Settings) -> dict[str, int]:
    raw = await redis.hgetall(router_keys(settings).violations)  # type: ignore[misc]
    return {_text(k): int(v) for k, v in raw.items()}


async def read_held(redis: aioredis.Redis, settings: Settings) -> dict[int, int]:
    raw = await redis.hgetall(router_keys(settings).held)  # type: ignore[misc]
    return {int(k): int(v) for k, v in raw.items()}


def counted_loads(state: RouterState) -> dict[int, Load]:
    """What the ``load`` counters must equal for ``state``: like ``state.loads`` but an
    item in wrap-up counts until it is removed (whatever ``now`` is)."""
    out: dict[int, Load] = {}
    for item in state.items.values():
        holders = ([item.agent_id] if item.agent_id is not None
                   else [] if item.wrapup_until is not None
                   else [o.agent_id for o in item.pending()])
        for agent_id in holders:
            out.setdefault(agent_id, Load()).add(item.channel, item.weight)
    return out


async def clear(redis: aioredis.Redis, settings: Settings) -> None:
    """Delete the router's state (tests, or a reset before rebuilding it from the DB)."""
    await redis.delete(*router_keys(settings).all())
