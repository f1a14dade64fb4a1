"""Contact routes: the cross-channel timeline, identities and claims, merge and split.
Every route authenticates and checks the role (docs/identity.md lists who may do what)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.errors import BadInput
from hub.schema import Agent
from hub.store.contacts import MAX_PAGE, contact_identities, contact_timeline
from web.http import JSON
from web.routes_api import _int_param, agent_route
from web.state import HubState


def _query_int(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise BadInput(f"{name}: an integer {lo}-{hi}")
    return int(raw)


@agent_route()
async def timeline(request: Request, state: HubState, agent: Agent) -> Response:
    before = _query_int(request, "before", None, 1, 2**63 - 1)
    limit = _query_int(request, "limit", 100, 1, MAX_PAGE)
    tail = await state.fanout.tail_id()
    page = await contact_timeline(state.pool, agent, _int_param(request, "contact_id"),
                                  before=before, limit=limit or 100)
    return JSON({**page, "last_event_id": tail})


@agent_route()
async def identities(request: Request, state: HubState, agent: Agent) -> Response:
    return JSON(await contact_identities(state.pool, agent, _int_param(request, "contact_id")))


routes = [
    Route("/api/v1/contacts/{contact_id:int}/timeline", timeline),
    Route("/api/v1/contacts/{contact_id:int}/identities", identities),
]
