"""Voice REST for agents and admins: calls, wrap-up, dispositions, call scripts.
Every route authenticates, checks the role, and for writes the Origin."""

from __future__ import annotations

import re

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.errors import BadInput
from hub.schema import Agent
from hub.untrusted import parse_int
from hub.voice.actions import calls as va
from hub.voice.rules.scripts import ScriptError, parse_script
from web.http import JSON, read_body, read_json
from web.routing_kit import agent_route, pk
from web.state import HubState


def _opt_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    return parse_int(raw, name)


@agent_route("call.view")
async def list_calls(request: Request, state: HubState, agent: Agent) -> Response:
    calls = await va.list_calls(state.pool, agent,
                                conversation_id=_opt_int(request, "conversation_id"),
                                contact_id=_opt_int(request, "contact_id"))
    return JSON({"calls": calls})


@agent_route("call.view")
async def get_call(request: Request, state: HubState, agent: Agent) -> Response:
    return JSON({"call": await va.get_call(state.pool, agent, pk(request, "call"))})


class WrapupBody(msgspec.Struct, forbid_unknown_fields=True):
    disposition: str
    notes: str = ""


@agent_route("call.wrapup", write=True)
async def wrapup(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, WrapupBody, state.settings.http_max_body)
    call = await va.save_wrapup(state.pool, state.publisher, agent,
                                pk(request, "call"), body.disposition, body.notes)
    return JSON({"call": call})


@agent_route("voice.scripts")
async def get_dispositions(request: Request, state: HubState, agent: Agent) -> Response:
    return JSON({"dispositions": await va.dispositions(state.pool)})


class DispositionItem(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    label: str


class DispositionsBody(msgspec.Struct, forbid_unknown_fields=True):
    dispositions: list[DispositionItem]


@agent_route("voice.configure", write=True)
async def put_dispositions(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, DispositionsBody, state.settings.http_max_body)
    items = [(d.code.strip(), d.label.strip()) for d in body.dispositions]
    if not 1 <= len(items) <= 50:
        raise BadInput("dispositions: 1-50 entries")
    for code, label in items:
        if not re.match(r"^[a-z0-9][a-z0-9_-]{0,39}$", code):
            raise BadInput(f"code {code[:40]!r}: 1-40 of a-z, 0-9, _ and -")
        if not 1 <= len(label) <= 100:
            raise BadInput(f"label of {code!r}: 1-100 characters")
    if len({c for c, _ in items}) != len(items):
        raise BadInput("dispositions: codes must be distinct")
    await va.replace_dispositions(state.pool, items)
    return JSON({"dispositions": await va.dispositions(state.pool)})


@agent_route("voice.configure", write=True)
async def upload_script(request: Request, state: HubState, agent: Agent) -> Response:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/json", "application/yaml", "application/x-yaml",
                     "text/yaml", "text/x-yaml", "text/plain"):
        raise BadInput("Content-Type: application/json or application/yaml",
                       code="unsupported_media_type")
    body = await read_body(request, 200_000)
    try:
        script = parse_script(body, ctype)
    except ScriptError as exc:
        return JSON({"error": exc.code, "step": exc.step, "reason": exc.reason},
                    status_code=422)
    stored = await va.store_script(state.pool, agent, script, body.decode("utf-8", "replace"))
    return JSON({"script": stored}, status_code=201)


@agent_route("voice.scripts")
async def get_scripts(request: Request, state: HubState, agent: Agent) -> Response:
    return JSON({"scripts": await va.list_scripts(state.pool)})


@agent_route("conversation.view")
async def get_conversation_script(request: Request, state: HubState, agent: Agent
                                  ) -> Response:
    return JSON(await va.conversation_script(
        state.pool, agent, pk(request, "conversation_id"),
        _opt_int(request, "script_id")))


class ScriptStepBody(msgspec.Struct, forbid_unknown_fields=True):
    script_id: int
    step: str
    value: str | None  # None: go back one step


@agent_route("voice.script_step", write=True)
async def post_script_step(request: Request, state: HubState, agent: Agent) -> Response:
    body = await read_json(request, ScriptStepBody, state.settings.http_max_body)
    return JSON(await va.walk_script(state.pool, agent, pk(request, "conversation_id"),
                                     body.script_id, body.step, body.value))


routes = [
    Route("/api/v1/calls", list_calls),
    Route("/api/v1/calls/{call:pk}", get_call),
    Route("/api/v1/calls/{call:pk}/wrapup", wrapup, methods=["POST"]),
    Route("/api/v1/voice/dispositions", get_dispositions, methods=["GET"]),
    Route("/api/v1/voice/dispositions", put_dispositions, methods=["PUT"]),
    Route("/api/v1/voice/scripts", get_scripts, methods=["GET"]),
    Route("/api/v1/voice/scripts", upload_script, methods=["POST"]),
    Route("/api/v1/conversations/{conversation_id:pk}/script", get_conversation_script,
          methods=["GET"]),
    Route("/api/v1/conversations/{conversation_id:pk}/script", post_script_step,
          methods=["POST"]),
]
