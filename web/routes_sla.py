"""SLA policy REST (docs/sla.md "Policies (stored)"): supervisors read, admins change.

- ``GET /api/v1/sla/policies``: the applying version and its policies in evaluation
  order; ``problem`` names what no longer validates against the running routing config
  (a queue a policy names was removed), else null.
- ``POST /api/v1/sla/policies``: add one policy (evaluated after the others); 201.
- ``GET``/``PUT``/``DELETE /api/v1/sla/policies/{id}``: one policy; PUT keeps its place.
- ``GET /api/v1/sla/policies/versions``: every stored version, newest first.
- ``PUT /api/v1/sla/policies/order``: ``{"ids": [...]}``, the order they are tried in.

Writes take an optional ``If-Match: <version>`` (the version the client edited): 409
when another change came first. Each change is a new version, audited, validated whole
against the running routing config first: a bad policy is a 422 with ``path`` (inside
the policy sent, e.g. ``targets.resolution.seconds``) and ``problem``, and nothing is
stored. The routing YAML's ``sla:`` section: web/sla_routing_section.py.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route

from hub.errors import BadInput, NotFound
from hub.routing.config import CompiledConfig
from hub.routing.configstore import ConfigCache
from hub.schema import Agent
from hub.sla.rules.edits import index_of
from hub.sla.rules.load import ID_PATTERN, SlaPolicyError, load_policies
from hub.sla.store import policies as store
from hub.untrusted import decode_json, parse_int
from web.http import JSON, read_body
from web.routing_kit import agent_route
from web.state import HubState

MAX_POLICY_BYTES = 64 * 1024


async def _routing(request: HTTPConnection, state: HubState) -> CompiledConfig:
    # The same per-process cache as the routing routes (web/routes_routing.py).
    cache: ConfigCache | None = getattr(request.app.state, "routing_configs", None)
    if cache is None:
        cache = ConfigCache(state.pool, state.redis, state.settings)
        request.app.state.routing_configs = cache
    return await cache.get()


def _policy_id(request: Request) -> str:
    value = str(request.path_params["policy_id"])
    if not ID_PATTERN.match(value):
        raise NotFound(f"no SLA policy {value[:64]!r}")
    return value


async def _body(request: Request) -> Any:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise BadInput("Content-Type must be application/json", code="unsupported_media_type")
    return decode_json(await read_body(request, MAX_POLICY_BYTES))


def _expected(request: Request) -> int | None:
    """``If-Match: <version>``: the version the client edited (optional)."""
    raw = request.headers.get("if-match", "").strip().strip('"')
    return parse_int(raw, "If-Match (the version you edited)", lo=0) if raw else None


def _invalid(exc: SlaPolicyError) -> Response:
    return JSON({"error": exc.code, "reason": exc.reason, "path": exc.path,
                 "problem": exc.problem}, status_code=422)


# ---- REST --------------------------------------------------------------------------------


@agent_route("sla.view")
async def list_policies(request: Request, state: HubState, agent: Agent) -> Response:
    version, policies = await store.current_document(state.pool)
    problem = None
    try:
        load_policies({"version": max(version, 1), "policies": policies},
                      await _routing(request, state))
    except SlaPolicyError as exc:
        problem = {"path": exc.path, "problem": exc.problem, "reason": exc.reason}
    return JSON({"version": version, "policies": policies, "problem": problem})


@agent_route("sla.configure", write=True)
async def add_policy(request: Request, state: HubState, agent: Agent) -> Response:
    body = await _body(request)
    try:
        version, policy = await store.add_policy(state.pool, agent.id, body,
                                                 await _routing(request, state),
                                                 _expected(request))
    except SlaPolicyError as exc:
        return _invalid(exc)
    return JSON({"version": version, "policy": policy}, status_code=201)


@agent_route("sla.view")
async def get_policy(request: Request, state: HubState, agent: Agent) -> Response:
    policy_id = _policy_id(request)
    version, policies = await store.current_document(state.pool)
    return JSON({"version": version, "policy": policies[index_of(policies, policy_id)]})


@agent_route("sla.configure", write=True)
async def put_policy(request: Request, state: HubState, agent: Agent) -> Response:
    policy_id = _policy_id(request)
    body = await _body(request)
    try:
        version, policy = await store.replace_policy(state.pool, agent.id, policy_id, body,
                                                     await _routing(request, state),
                                                     _expected(request))
    except SlaPolicyError as exc:
        return _invalid(exc)
    return JSON({"version": version, "policy": policy})


@agent_route("sla.configure", write=True)
async def delete_policy(request: Request, state: HubState, agent: Agent) -> Response:
    policy_id = _policy_id(request)
    try:
        version = await store.delete_policy(state.pool, agent.id, policy_id,
                                            await _routing(request, state),
                                            _expected(request))
    except SlaPolicyError as exc:
        return _invalid(exc)
    return JSON({"version": version, "deleted": policy_id})


@agent_route("sla.configure", write=True)
async def put_order(request: Request, state: HubState, agent: Agent) -> Response:
    """The order the policies are tried in: ``{"ids": [...]}``, every policy once."""
    body = await _body(request)
    if not isinstance(body, dict) or set(body) != {"ids"}:
        return _invalid(SlaPolicyError("ids", "send {\"ids\": [every policy id, in order]}"))
    try:
        version = await store.reorder_policies(state.pool, agent.id, body["ids"],
                                               await _routing(request, state),
                                               _expected(request))
    except SlaPolicyError as exc:
        return _invalid(exc)
    return JSON({"version": version, "ids": body["ids"]})


@agent_route("sla.view")
async def policy_versions(request: Request, state: HubState, agent: Agent) -> Response:
    return JSON({"versions": await store.list_versions(state.pool)})


routes = [
    Route("/api/v1/sla/policies", list_policies),
    Route("/api/v1/sla/policies", add_policy, methods=["POST"]),
    # Before "{policy_id}": "versions" and "order" are reserved ids (hub/sla/rules/edits.py).
    Route("/api/v1/sla/policies/versions", policy_versions),
    Route("/api/v1/sla/policies/order", put_order, methods=["PUT"]),
    Route("/api/v1/sla/policies/{policy_id}", get_policy),
    Route("/api/v1/sla/policies/{policy_id}", put_policy, methods=["PUT"]),
    Route("/api/v1/sla/policies/{policy_id}", delete_policy, methods=["DELETE"]),
]
