"""Admin REST for telephony settings: CTI endpoints (token shown once), block list and
caller-id rules, agent extensions, click-to-call originators. Admin role + Origin on
writes, each write audited (hub/voice/store/admin.py); secrets never come back
(masked). Changes reach the CTI edge within its 5 s
cache."""

from __future__ import annotations

import re
import secrets
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.errors import BadInput, NotFound
from hub.schema import Agent
from hub.voice.store import admin as voice_store
from web.http import JSON, read_json
from web.routes_cti import hash_cti_token
from web.routing_kit import agent_route, pk
from web.state import HubState

_PATTERN = re.compile(r"^[+0-9* ]{1,40}$")
_REGION = re.compile(r"^[A-Z]{2}$")
_EXTENSION = re.compile(r"^[A-Za-z0-9_.@+-]{1,64}$")
_SECRET_KEYS = {"secret", "auth_token"}
_REQUIRED = {"ami": ("host", "username", "secret"),
             "twilio": ("account_sid", "auth_token", "caller_id")}


class CallerIdRuleBody(msgspec.Struct, forbid_unknown_fields=True):
    dest: str
    caller_id: str


class CtiEndpointBody(msgspec.Struct, forbid_unknown_fields=True):
    inbox: str
    name: str = ""
    region: str = "DE"
    blocked_callers: list[str] = []
    caller_id_rules: list[CallerIdRuleBody] = []
    default_caller_id: str = ""


async def _voice_inbox(state: HubState, slug: str) -> str:
    try:
        inbox = await state.inbox(slug)
    except NotFound:
        raise BadInput("inbox: no such inbox") from None
    if inbox.channel != "voice":
        raise BadInput("inbox: not a voice inbox")
    return inbox.slug


def _check_endpoint(body: CtiEndpointBody) -> None:
    if not _REGION.match(body.region):
        raise BadInput("region: two capital letters (ISO 3166), e.g. DE")
    if len(body.name) > 100:
        raise BadInput("name: at most 100 characters")
    if len(body.blocked_callers) > 1000 or len(body.caller_id_rules) > 200:
        raise BadInput("at most 1000 blocked callers and 200 caller-id rules")
    for pattern in body.blocked_callers:
        if not _PATTERN.match(pattern):
            raise BadInput(f"blocked_callers: {pattern[:40]!r} is not a number pattern"
                           " (digits, +, spaces, * wildcard)")
    for rule in body.caller_id_rules:
        if not _PATTERN.match(rule.dest) or not _PATTERN.match(rule.caller_id) \
                or "*" in rule.caller_id:
            raise BadInput(f"caller_id_rules: bad rule {rule.dest[:40]!r}")
    if body.default_caller_id and (not _PATTERN.match(body.default_caller_id)
                                   or "*" in body.default_caller_id):
        raise BadInput("default_caller_id: a number")


def _endpoint_row(r: Any) -> dict[str, Any]:
    return {"id": r["id"], "inbox": r["inbox"], "name": r["name"], "region": r["region"],
            "blocked_callers": list(r["blocked_callers"]),
            "caller_id_rules": msgspec.json.decode(r["caller_id_rules"]),
            "default_caller_id": r["default_caller_id"]}


def _masked(config: dict[str, Any]) -> dict[str, Any]:
    return {k: ("********" if k in _SECRET_KEYS and v else v) for k, v in config.items()}


@agent_route("voice.configure")
async def get_config(request: Request, state: HubState, agent: Agent) -> Response:
    endpoints, extensions, originators = await voice_store.voice_config(state.pool)
    return JSON({
        "cti_endpoints": [_endpoint_row(r) for r in endpoints],
        "extensions": [dict(r) for r in extensions],
        "originators": [{"inbox": r["inbox"], "kind": r["kind"],
                         "config": _masked(msgspec.json.decode(r["config"]))}
                        for r in originators],
    })


@agent_route("voice.configure", write=True)
async def create_endpoint(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, CtiEndpointBody, state.settings.http_max_body)
    _check_endpoint(body)
    inbox = await _voice_inbox(state, body.inbox)
    token = "cti_" + secrets.token_urlsafe(30)
    r = await voice_store.create_cti_endpoint(
        state.pool, agent, inbox=inbox, name=body.name, token_hash=hash_cti_token(token),
        region=body.region, blocked=body.blocked_callers,
        rules_json=msgspec.json.encode(body.caller_id_rules).decode(),
        default_caller_id=body.default_caller_id)
    # The token is shown once; only its hash is stored.
    return JSON({"cti_endpoint": _endpoint_row(r), "token": token,
                 "url": f"/cti/{token}/events"}, status_code=201)


@agent_route("voice.configure", write=True)
async def update_endpoint(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, CtiEndpointBody, state.settings.http_max_body)
    _check_endpoint(body)
    inbox = await _voice_inbox(state, body.inbox)
    r = await voice_store.update_cti_endpoint(
        state.pool, agent, pk(request, "endpoint"), inbox=inbox, name=body.name,
        region=body.region, blocked=body.blocked_callers,
        rules_json=msgspec.json.encode(body.caller_id_rules).decode(),
        default_caller_id=body.default_caller_id)
    if r is None:
        raise NotFound("no such CTI endpoint")
    return JSON({"cti_endpoint": _endpoint_row(r)})


class ExtensionItem(msgspec.Struct, forbid_unknown_fields=True):
    extension: str
    agent_id: int


class ExtensionsBody(msgspec.Struct, forbid_unknown_fields=True):
    extensions: list[ExtensionItem]


@agent_route("voice.configure", write=True)
async def put_extensions(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, ExtensionsBody, state.settings.http_max_body)
    items = [(e.extension.strip(), e.agent_id) for e in body.extensions]
    if len(items) > 5000:
        raise BadInput("extensions: at most 5000")
    for ext, _ in items:
        if not _EXTENSION.match(ext):
            raise BadInput(f"extension {ext[:40]!r}: 1-64 of A-Z a-z 0-9 _ . @ + -")
    if len({e for e, _ in items}) != len(items):
        raise BadInput("extensions: each extension once")
    await voice_store.replace_extensions(state.pool, agent, items)
    return JSON({"extensions": [{"extension": e, "agent_id": a} for e, a in items]})


class OriginatorBody(msgspec.Struct, forbid_unknown_fields=True):
    kind: str
    config: dict[str, str | int | float | bool]


@agent_route("voice.configure", write=True)
async def put_originator(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, OriginatorBody, state.settings.http_max_body)
    inbox = await _voice_inbox(state, request.path_params["inbox"])
    if body.kind not in _REQUIRED:
        raise BadInput("kind: ami or twilio")
    config = dict(body.config)
    previous = await voice_store.originator_config(state.pool, inbox, body.kind)
    for key in _SECRET_KEYS:  # the masked value means "keep the stored secret"
        if config.get(key) == "********" and key in previous:
            config[key] = previous[key]
    for key in _REQUIRED[body.kind]:
        if not str(config.get(key, "")).strip():
            raise BadInput(f"config.{key}: required for {body.kind}")
    for key in ("api_base", "status_callback_url"):
        value = str(config.get(key, ""))
        if value and not re.match(r"^https?://[^\s]+$", value):
            raise BadInput(f"config.{key}: an http(s) URL")
    if "port" in config and not (isinstance(config["port"], int)
                                 and 0 < config["port"] < 65536):
        raise BadInput("config.port: 1-65535")
    await voice_store.save_originator(state.pool, agent, inbox, body.kind, config)
    return JSON({"originator": {"inbox": inbox, "kind": body.kind,
                                "config": _masked(config)}})


routes = [
    Route("/api/v1/voice/config", get_config),
    Route("/api/v1/voice/cti-endpoints", create_endpoint, methods=["POST"]),
    Route("/api/v1/voice/cti-endpoints/{endpoint:pk}", update_endpoint, methods=["PUT"]),
    Route("/api/v1/voice/extensions", put_extensions, methods=["PUT"]),
    Route("/api/v1/voice/originators/{inbox}", put_originator, methods=["PUT"]),
]
