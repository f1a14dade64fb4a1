"""Telephony edge: the Zammad-compatible generic CTI push API.

``POST /cti/{token}/events`` — the token is the credential (only its sha256 is stored;
looked up by hash, then compared in constant time). The event is appended to the
ingest stream before we answer; the reply (``{}``, reject, or dial with a caller id)
is decided here from the endpoint's rules, because the PBX waits for it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from channels.cti.generic import (
    callback_link,
    envelope_for_call,
    read_payload,
    signal_from_cti,
)
from hub.errors import Unauthorized
from hub.voice.rules.pbx import CallerIdRule, CtiRules, cti_reply
from hub.voice.store import edge as voice_edge
from web.http import JSON, read_body
from web.routing_kit import public_route
from web.state import HubState


@dataclass(frozen=True, slots=True)
class CtiEndpoint:
    id: int
    inbox: str
    token_hash: str
    region: str
    rules: CtiRules


def hash_cti_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_cache: dict[str, tuple[float, CtiEndpoint | None]] = {}
_CACHE_S = 5.0


async def cti_endpoint(state: HubState, token: str) -> CtiEndpoint:
    """The endpoint this token belongs to, or Unauthorized (same answer for any miss)."""
    if not token or len(token) > 200:
        raise Unauthorized("Invalid token, please contact your admin!")
    digest = hash_cti_token(token)
    key = f"{state.settings.database_url}|{digest}"
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is None or now - hit[0] > _CACHE_S:
        r = await voice_edge.cti_endpoint_by_hash(state.pool, digest)
        endpoint = None if r is None else CtiEndpoint(
            id=r["id"], inbox=r["inbox"], token_hash=r["token_hash"], region=r["region"],
            rules=CtiRules(
                blocked=tuple(r["blocked_callers"]),
                caller_id_rules=tuple(msgspec.json.decode(
                    r["caller_id_rules"], type=list[CallerIdRule])),
                default_caller_id=r["default_caller_id"]))
        hit = _cache[key] = (now, endpoint)
    endpoint = hit[1]
    # The lookup was by hash; compare again in constant time so the answer never
    # depends on how much of a guessed token matched.
    if endpoint is None or not hmac.compare_digest(endpoint.token_hash, digest):
        raise Unauthorized("Invalid token, please contact your admin!")
    return endpoint


@public_route("CTI endpoint: the endpoint token in the path, checked in the handler")
async def cti_event(request: Request) -> Response:
    state: HubState = request.app.state.hub
    endpoint = await cti_endpoint(state, request.path_params["token"])
    body = await read_body(request, state.settings.http_max_body)
    data = read_payload(body, request.headers.get("content-type", ""))
    now = datetime.now(UTC)
    sig = signal_from_cti(data, now, endpoint.region)
    callback_id = callback_link(data)
    reply = cti_reply(sig, endpoint.rules)
    if reply.get("action") == "reject":
        sig = msgspec.structs.replace(sig, blocked=True)
    event_name = str(data.get("event"))
    await state.ingest.submit(envelope_for_call(endpoint.inbox, sig, event_name, now,
                                                callback_id))
    return JSON(reply)


routes = [
    Route("/cti/{token}/events", cti_event, methods=["POST"]),
    # Zammad's own path, so PBX configs written for Zammad work by changing the host.
    Route("/api/v1/cti/{token}", cti_event, methods=["POST"]),
]
