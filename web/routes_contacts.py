"""Contact routes: the cross-channel timeline, identities and claims, merge and split.
Every route authenticates and checks the role (docs/identity.md lists who may do what)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.contacts.actions.merge import merge_contacts, split_contact
from hub.contacts.actions.verification import request_verification
from hub.contacts.store.contacts import MAX_PAGE, contact_identities, contact_timeline
from hub.errors import BadInput
from hub.schema import Agent
from hub.untrusted import parse_int
from web.http import JSON, read_json
from web.jobs import enqueue_verification_code
from web.routing_kit import agent_route, pk
from web.state import HubState


def _query_int(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    return parse_int(raw, name, lo=lo, hi=hi)


@agent_route("contact.view")
async def timeline(request: Request, state: HubState, agent: Agent) -> Response:
    before = _query_int(request, "before", None, 1, 2**63 - 1)
    limit = _query_int(request, "limit", 100, 1, MAX_PAGE)
    tail = await state.fanout.tail_id()
    page = await contact_timeline(state.pool, agent, pk(request, "contact_id"),
                                  before=before, limit=limit or 100)
    return JSON({**page, "last_event_id": tail})


@agent_route("contact.view")
async def identities(request: Request, state: HubState, agent: Agent) -> Response:
    return JSON(await contact_identities(state.pool, agent, pk(request, "contact_id")))


class MergeBody(msgspec.Struct, forbid_unknown_fields=True):
    other_id: int


class SplitBody(msgspec.Struct, forbid_unknown_fields=True):
    identities: list[str] = []
    name: str = ""


class UnmergeBody(msgspec.Struct, forbid_unknown_fields=True):
    merge_audit_id: int


def _positive(value: int, name: str) -> int:
    if not 0 < value < 2**63:
        raise BadInput(f"{name}: an id")
    return value


@agent_route("contact.merge", write=True)
async def merge(request: Request, state: HubState, agent: Agent) -> Response:
    """Merge ``other_id`` into this contact (agents and above, as in Chatwoot)."""
    body = await read_json(request, MergeBody, state.settings.http_max_body)
    result = await merge_contacts(state.pool, state.publisher, agent,
                                  pk(request, "contact_id"),
                                  _positive(body.other_id, "other_id"))
    return JSON(result)


@agent_route("contact.split", write=True)
async def split(request: Request, state: HubState, agent: Agent) -> Response:
    """Move chosen identities (and the conversations they opened) to a new contact."""
    body = await read_json(request, SplitBody, state.settings.http_max_body)
    if len(body.identities) > 100:
        raise BadInput("identities: at most 100")
    result = await split_contact(state.pool, state.publisher, agent,
                                 pk(request, "contact_id"), body.identities,
                                 name=body.name.strip())
    return JSON(result, status_code=201)


@agent_route("contact.split", write=True)
async def unmerge(request: Request, state: HubState, agent: Agent) -> Response:
    """Undo a merge from its audit row: the merged contact comes back with what it had."""
    body = await read_json(request, UnmergeBody, state.settings.http_max_body)
    result = await split_contact(state.pool, state.publisher, agent,
                                 pk(request, "contact_id"), [],
                                 undo_merge=_positive(body.merge_audit_id, "merge_audit_id"))
    return JSON(result)


class VerifyBody(msgspec.Struct, forbid_unknown_fields=True):
    claim: str  # "email:ann@example.com" or "phone:+4930123456", a claim of the contact
    conversation_id: int | None = None  # default: the contact's latest open chat


@agent_route("contact.verify", write=True)
async def verify_claim(request: Request, state: HubState, agent: Agent) -> Response:
    """Send a one-time code to a claimed email/phone; the visitor enters it in the widget
    (docs/identity.md "Verifying a claim")."""
    body = await read_json(request, VerifyBody, state.settings.http_max_body)
    conv = (_positive(body.conversation_id, "conversation_id")
            if body.conversation_id is not None else None)
    result = await request_verification(state.pool, state.publisher, state.settings, agent,
                                        pk(request, "contact_id"), body.claim, conv)
    await enqueue_verification_code(state.redis, state.settings, result["id"])
    return JSON({"verification": result}, status_code=201)


routes = [
    Route("/api/v1/contacts/{contact_id:pk}/timeline", timeline),
    Route("/api/v1/contacts/{contact_id:pk}/identities", identities),
    Route("/api/v1/contacts/{contact_id:pk}/merge", merge, methods=["POST"]),
    Route("/api/v1/contacts/{contact_id:pk}/split", split, methods=["POST"]),
    Route("/api/v1/contacts/{contact_id:pk}/unmerge", unmerge, methods=["POST"]),
    Route("/api/v1/contacts/{contact_id:pk}/verifications", verify_claim, methods=["POST"]),
]
