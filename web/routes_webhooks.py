"""Public messaging webhooks. Each request is verified on its raw bytes (and, for Twilio,
its strictly decoded form) before anything is parsed into an envelope or stored; a
failure is 401 (no credential) or 403 (wrong credential) and changes nothing. Inbound
messages are on the ingest stream, and status reports committed, before the 2xx.

  POST /webhooks/twilio/sms         inbound SMS/MMS/WhatsApp + message status callbacks
  GET  /webhooks/meta               hub.challenge handshake
  POST /webhooks/meta               Messenger, Instagram, WhatsApp Cloud events
  POST /webhooks/telegram/{inbox}   Telegram updates
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from channels.meta.inbound import parse_meta
from channels.meta.signature import SIGNATURE_HEADER as META_SIGNATURE
from channels.meta.signature import answer_challenge, verify_signature
from channels.telegram.inbound import update_from_telegram
from channels.telegram.signature import SECRET_HEADER, verify_secret_token
from channels.twilio import inbound as twilio_in
from channels.twilio.signature import SIGNATURE_HEADER as TWILIO_SIGNATURE
from channels.twilio.signature import verify_form
from channels.webhook_url import signed_url
from hub.errors import BadInput, Forbidden, Unauthorized
from hub.messaging.actions import record_provider_status
from hub.messaging.delivery_rules import StatusReport, Watermark
from hub.schema import Envelope
from hub.untrusted import storable_text, unstorable
from web.http import JSON, read_body
from web.messaging_accounts import directory
from web.routing_kit import public_route
from web.state import HubState

log = logging.getLogger("omnihub.webhooks")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _require_media_type(request: Request, expected: str) -> None:
    if _media_type(request) != expected:
        raise BadInput(f"Content-Type must be {expected}", code="unsupported_media_type")


def _storable(reports: list[StatusReport], marks: list[Watermark] | None = None,
              ) -> list[StatusReport]:
    """Status reports go straight to Postgres (not through ingest): an id it cannot store
    (NUL) is refused like any invalid id; the provider's error text is kept, cleaned."""
    for m in marks or ():
        storable_text(m.contact_identity, "sender id")
    out = []
    for r in reports:
        storable_text(r.provider_ref, "status: message id")
        if unstorable(r.error):
            r = dataclasses.replace(r, error=r.error.replace("\x00", "\ufffd"))
        out.append(r)
    return out


async def _submit_all(state: HubState, envelopes: list[Envelope]) -> None:
    # The ingest writer coalesces these into one pipelined round trip.
    await asyncio.gather(*(state.ingest.submit(e) for e in envelopes))


@public_route("provider webhook, signature checked")
async def twilio_sms(request: Request) -> Response:
    state: HubState = request.app.state.hub
    body = await read_body(request, state.settings.webhook_max_body)
    _require_media_type(request, "application/x-www-form-urlencoded")
    params = twilio_in.parse_form(body)
    p = twilio_in.single(params)
    # The address only picks which auth token to verify with; nothing is trusted yet.
    account = await directory(request).by_external("twilio", twilio_in.routing_address(p))
    signature = request.headers.get(TWILIO_SIGNATURE)
    if account is None:
        if not signature:
            raise Unauthorized("missing X-Twilio-Signature")
        raise Forbidden("no inbox for this number", code="bad_signature")
    url = signed_url(state.settings.webhook_base_url, request.url.path,
                     request.url.query, str(request.url))
    verify_form(account.auth_token, url, params, signature)
    if account.account_sid and p.get("AccountSid") != account.account_sid:
        raise Forbidden("AccountSid does not own this number", code="bad_signature")
    if twilio_in.is_status_callback(p):
        report = twilio_in.status_from_twilio(params)
        if report is not None:
            await record_provider_status(state.pool, state.publisher, _storable([report]))
    else:
        msg = twilio_in.envelope_from_twilio(account.inbox, account.channel, params,
                                             datetime.now(UTC),
                                             media_limit=state.settings.media_max_bytes)
        await state.ingest.submit(msg.envelope)
    return Response(EMPTY_TWIML, media_type="text/xml")


@public_route("provider webhook verification handshake")
async def meta_handshake(request: Request) -> Response:
    tokens = await directory(request).meta_verify_tokens()
    challenge = answer_challenge(dict(request.query_params), tokens)
    return PlainTextResponse(challenge)


@public_route("provider webhook, signature checked")
async def meta_events(request: Request) -> Response:
    state: HubState = request.app.state.hub
    body = await read_body(request, state.settings.webhook_max_body)
    accounts = directory(request)
    secret = verify_signature(await accounts.meta_secrets(), body,
                              request.headers.get(META_SIGNATURE))
    _require_media_type(request, "application/json")
    batch = parse_meta(body, await accounts.meta(), secret, datetime.now(UTC),
                       media_limit=state.settings.media_max_bytes)
    if batch.reports or batch.marks:
        await record_provider_status(state.pool, state.publisher,
                                     _storable(batch.reports, batch.marks), batch.marks)
    await _submit_all(state, batch.envelopes)
    if batch.ignored:
        log.info("meta webhook: skipped %d events (%s)", len(batch.ignored),
                 ", ".join(sorted(set(batch.ignored))))
    return JSON({"messages": len(batch.envelopes), "statuses": len(batch.reports),
                 "ignored": len(batch.ignored)})


@public_route("provider webhook, secret token checked")
async def telegram_update(request: Request) -> Response:
    state: HubState = request.app.state.hub
    slug = request.path_params["inbox"]
    header = request.headers.get(SECRET_HEADER)
    account = await directory(request).by_inbox(slug[:64])
    if account is None or account.provider != "telegram":
        # The same answers as a wrong secret: inbox names are not revealed.
        verify_secret_token("", header)
        raise Forbidden("no such telegram inbox", code="bad_signature")
    verify_secret_token(account.secret_token, header)
    body = await read_body(request, state.settings.webhook_max_body)
    _require_media_type(request, "application/json")
    update = update_from_telegram(account.inbox, account.external_id, body, datetime.now(UTC),
                                  media_limit=state.settings.media_max_bytes)
    if update.envelope is not None:
        await state.ingest.submit(update.envelope)
    else:
        log.info("telegram update %d skipped: %s", update.update_id, update.ignored)
    return JSON({"ok": True, "stored": update.envelope is not None})


routes = [
    Route("/webhooks/twilio/sms", twilio_sms, methods=["POST"]),
    Route("/webhooks/meta", meta_handshake, methods=["GET"]),
    Route("/webhooks/meta", meta_events, methods=["POST"]),
    Route("/webhooks/telegram/{inbox}", telegram_update, methods=["POST"]),
]
