"""Pre-chat form routes.

- ``GET``/``PUT /api/v1/inboxes/{inbox}/prechat`` — the admin config (admin only; PUT
  is Origin-checked, validated whole (422 with the field ``path``), stored with an audit
  row, optionally guarded by ``If-Match: <version>`` (409 when stale).
- ``POST /api/v1/widget/prechat`` — a widget visitor's answers plus their first
  message. No login: the visitor token (from the socket's hello) says who they are and
  the inbox's allowed origins apply. Invalid answers get 422 with ``fields`` (key ->
  reason) and nothing is stored; valid ones go onto the ingest stream as ONE envelope
  (message + answers), so the pipeline stores both in one transaction, exactly once
  (the provider id is the socket's ``<visitor>:<client_id>``: a retry is a duplicate).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from channels.chat import WidgetMessage, envelope_from_widget, verify_visitor_token
from hub.contacts.rules.prechat import (
    PrechatConfigError,
    PrechatInvalid,
    public_form,
    validate_answers,
)
from hub.contacts.store.prechat import get_form, save_form
from hub.errors import BadInput, HubError
from hub.schema import Agent, Identity
from hub.untrusted import decode_json, parse_int
from web.http import JSON, error_response, read_body
from web.routing_kit import agent_route, public_route
from web.state import HubState
from web.widget_prechat import (
    availability,
    forget_form,
    form_to_check,
    inbox_form,
    mark_submitted,
    visitor_is_known,
)

MAX_CONFIG_BYTES = 64 * 1024
MAX_SUBMISSION_BYTES = 64 * 1024


def _json_type(request: Request, *, allow_text: bool = False) -> None:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not (allow_text and ctype == "text/plain"):
        raise BadInput("Content-Type must be application/json", code="unsupported_media_type")


# ---- admin ----------------------------------------------------------------------------


@agent_route("prechat.configure")
async def get_prechat(request: Request, state: HubState, agent: Agent) -> Response:
    inbox = await state.inbox(request.path_params["inbox"])
    cfg, version = await get_form(state.pool, inbox.slug)
    return JSON({"inbox": inbox.slug, "version": version, "config": cfg})


@agent_route("prechat.configure", write=True)
async def put_prechat(request: Request, state: HubState, agent: Agent) -> Response:
    _json_type(request)
    data = decode_json(await read_body(request, MAX_CONFIG_BYTES))
    expected: int | None = None
    if_match = request.headers.get("if-match", "").strip().strip('"')
    if if_match:
        expected = parse_int(if_match, "If-Match (the version number you edited)", lo=0)
    slug = request.path_params["inbox"]
    try:
        cfg, version = await save_form(state.pool, agent, slug[:64], data, expected)
    except PrechatConfigError as exc:
        return JSON({"error": exc.code, "reason": exc.reason, "path": exc.path,
                     "problem": exc.problem}, status_code=422)
    forget_form(request.app, slug)
    return JSON({"inbox": slug, "version": version, "config": cfg})


# ---- widget ---------------------------------------------------------------------------


class Submission(msgspec.Struct, forbid_unknown_fields=True):
    inbox: str
    token: str
    values: dict[str, Any]
    # The visitor's first message, sent with the answers (the socket's frame fields).
    client_id: str
    text: str
    consent: bool | None = None
    # ISO 3166 region for phones typed without +<country> (the embed tag may set it;
    # otherwise the inbox's configured phone_region).
    region: str = ""


def _cors(resp: Response, request: Request) -> Response:
    origin = request.headers.get("origin")
    if origin:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Vary"] = "Origin"
    return resp


@public_route("widget visitor, rate limited")
async def submit_prechat(request: Request) -> Response:
    """Errors carry the CORS header too, so a widget on a shop's origin can show them."""
    try:
        resp = await _submit(request)
    except PrechatInvalid as exc:
        resp = JSON({"error": exc.code, "reason": exc.reason, "fields": exc.fields},
                    status_code=422)
    except HubError as exc:
        resp = error_response(exc)
    return _cors(resp, request)


async def _submit(request: Request) -> Response:
    state: HubState = request.app.state.hub
    # text/plain is accepted (a cross-origin widget then needs no CORS preflight); the
    # inbox's allowed origins are checked below either way.
    _json_type(request, allow_text=True)
    body: Submission = decode_json(await read_body(request, MAX_SUBMISSION_BYTES),
                                   Submission)
    inbox = await state.inbox(body.inbox)
    if inbox.channel != "chat":
        raise BadInput("inbox is not a chat inbox")
    state.check_widget_origin(inbox, request.headers.get("origin"))
    identity: Identity = verify_visitor_token(state.settings.secret_key, inbox.slug,
                                              body.token[:400])
    if identity.kind != "visitor":
        raise BadInput("identified users do not fill in the pre-chat form")
    if len(body.values) > 50:
        raise BadInput("values: too many fields")
    frame = WidgetMessage(client_id=body.client_id, text=body.text)
    now = datetime.now(UTC)
    cfg = await inbox_form(request.app, state, inbox.slug)
    known = await visitor_is_known(state, inbox.slug, identity)
    form = form_to_check(cfg, await availability(request.app, state, inbox.slug), known)
    errors: dict[str, str] = {}
    try:
        answers = validate_answers(form, body.values, body.consent, now, region=body.region)
    except PrechatInvalid as exc:
        errors.update(exc.fields)
    try:
        env = envelope_from_widget(inbox.slug, identity, frame, now,
                                   sender_name="" if errors else answers.name)
    except BadInput as exc:  # shown next to the message box
        field, _, reason = exc.reason.partition(": ")
        errors["client_id" if field == "client_id" else "message"] = reason or exc.reason
    if errors:
        raise PrechatInvalid(errors)
    claims = tuple(Identity(kind=k, value=v)  # type: ignore[arg-type]
                   for k, v in (("email", answers.email), ("phone", answers.phone)) if v)
    env = msgspec.structs.replace(env, claims=claims, prechat=answers)
    stream_id = await state.ingest.submit(env)
    await mark_submitted(state, inbox.slug, identity)
    return JSON({"status": "accepted", "client_id": frame.client_id, "stream_id": stream_id,
                 "values": {"name": answers.name, "email": answers.email,
                            "phone": answers.phone, **answers.custom}},
                status_code=202)


@public_route("CORS preflight")
async def prechat_preflight(request: Request) -> Response:
    """CORS preflight for JSON bodies; the real check is the inbox's allowed origins."""
    return _cors(Response(status_code=204, headers={
        "Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": "600"}), request)


@public_route("widget visitor reads the public form")
async def widget_form(request: Request) -> Response:
    """The form and availability of an inbox, as the widget's hello carries them (for
    shops that render their own form)."""
    state: HubState = request.app.state.hub
    try:
        inbox = await state.inbox(request.query_params.get("inbox", ""))
        if inbox.channel != "chat":
            raise BadInput("inbox is not a chat inbox")
        cfg = await inbox_form(request.app, state, inbox.slug)
        avail = await availability(request.app, state, inbox.slug)
        resp = JSON({"prechat": public_form(cfg) if cfg.enabled else None,
                     "availability": avail})
    except HubError as exc:
        resp = error_response(exc)
    return _cors(resp, request)


routes = [
    Route("/api/v1/inboxes/{inbox}/prechat", get_prechat, methods=["GET"]),
    Route("/api/v1/inboxes/{inbox}/prechat", put_prechat, methods=["PUT"]),
    Route("/api/v1/widget/prechat", submit_prechat, methods=["POST"]),
    Route("/api/v1/widget/prechat", prechat_preflight, methods=["OPTIONS"]),
    Route("/api/v1/widget/form", widget_form, methods=["GET"]),
]
