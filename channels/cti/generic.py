"""The Zammad-compatible generic CTI push API: a PBX POSTs ``newCall`` / ``answer`` /
``hangup`` as JSON or form data to ``/cti/{token}/events``; we answer ``{}``, a reject
for blocked callers, or the caller id to dial out with.

Pure: body bytes in, a ``CallSignal`` out (or ``BadInput``). Unknown extra keys are
ignored on purpose: PBX scripts written for Zammad send extras (``userId``,
``timestamp`` variants) and must keep working unchanged.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from channels.cti.numbers import to_e164
from hub.errors import BadInput
from hub.schema import Envelope, Identity
from hub.untrusted import decode_json, is_decimal, storable_text
from hub.voice.rules.callstate import HANGUP_CAUSES, CallSignal, Signal

EVENTS: dict[str, Signal] = {"newCall": "ring", "answer": "answer", "hangup": "hangup"}
_CALL_ID = re.compile(r"^[A-Za-z0-9_.:@+/-]{1,120}$")
_IVR_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_IVR_KEYS = 20


class InvalidDirection(BadInput):
    """Zammad answers an unknown direction with 422 ``Invalid direction!``."""

    status = 422
    code = "invalid_direction"


def _form(body: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise BadInput("body is not UTF-8", code="bad_form") from None
    for key, value in pairs:
        storable_text(key, "form field name", code="bad_form")
        storable_text(value, key, code="bad_form")
        if key in ("user[]", "user"):
            out.setdefault("user", []).append(value)
        elif key.startswith("ivr[") and key.endswith("]"):
            out.setdefault("ivr", {})[key[4:-1]] = value
        elif key.startswith("ivr_"):
            out.setdefault("ivr", {})[key[4:]] = value
        else:
            out[key] = value
    return out


def read_payload(body: bytes, content_type: str) -> dict[str, Any]:
    """JSON (recommended by Zammad) or form data, as one dict."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json":
        # A phone system is a provider: its text is kept and made storable at ingest.
        data = decode_json(body, keep_text=True)
        if not isinstance(data, dict):
            raise BadInput("body must be a JSON object", code="invalid_body")
        return data
    if ctype in ("application/x-www-form-urlencoded", ""):
        return _form(body)
    raise BadInput("Content-Type must be application/json or form data",
                   code="unsupported_media_type")


def _text(data: dict[str, Any], key: str, limit: int = 200, required: bool = False) -> str:
    value = data.get(key, "")
    if value is None:
        value = ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise BadInput(f"{key}: must be a string", code="invalid_body")
    value = value.strip()
    if required and not value:
        raise BadInput(f"{key}: required", code="invalid_body")
    if len(value) > limit:
        raise BadInput(f"{key}: at most {limit} characters", code="invalid_body")
    return value


def _users(data: dict[str, Any]) -> tuple[str, ...]:
    raw = data.get("user", [])
    if isinstance(raw, str):
        raw = [raw] if raw.strip() else []
    if not isinstance(raw, list) or not all(isinstance(u, str) for u in raw) or len(raw) > 50:
        raise BadInput("user: a name or a list of at most 50 names", code="invalid_body")
    return tuple(u.strip()[:200] for u in raw if u.strip())


def callback_link(data: dict[str, Any]) -> str:
    """Extension ``callbackId``: the ``OMNIHUB_CALLBACK`` channel variable of a call the
    hub originated (click-to-call), so the call's events advance that callback. The hub
    checks it belongs to the endpoint's inbox."""
    raw = data.get("callbackId", "")
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not (raw == "" or (is_decimal(raw) and len(raw) <= 18)):
        raise BadInput("callbackId: the callback's id (digits)", code="invalid_body")
    return raw
def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _ivr(data: dict[str, Any]) -> dict[str, str]:
    raw = data.get("ivr", {})
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict) or len(raw) > MAX_IVR_KEYS:
        raise BadInput(f"ivr: an object of at most {MAX_IVR_KEYS} keys", code="invalid_body")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _IVR_KEY.match(key):
            raise BadInput(f"ivr: bad key {str(key)[:40]!r} (a-z, 0-9, _)", code="invalid_body")
        if isinstance(value, list) and all(_scalar(v) for v in value):
            value = "-".join(str(v) for v in value)  # menu choices: [1, 3] -> "1-3"
        if not _scalar(value):
            raise BadInput(f"ivr.{key}: must be a string, a number or a list of them",
                           code="invalid_body")
        text = str(value).strip()
        if len(text) > 200:
            raise BadInput(f"ivr.{key}: at most 200 characters", code="invalid_body")
        out[key] = text
    return out


def _timestamp(data: dict[str, Any], received_at: datetime) -> datetime:
    raw = data.get("timestamp")
    if raw in (None, ""):
        return received_at
    try:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            at = datetime.fromtimestamp(float(raw), UTC)
        elif isinstance(raw, str) and raw.replace(".", "", 1).isdigit():
            at = datetime.fromtimestamp(float(raw), UTC)
        elif isinstance(raw, str):
            at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
        else:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        raise BadInput("timestamp: ISO 8601 or Unix seconds", code="invalid_body") from None
    return at


def number_of(raw: str, region: str) -> str:
    """E.164 when it is a phone number, else the raw text (extension, 'anonymous')."""
    return to_e164(raw, region, strict=False) or raw


def signal_from_cti(data: dict[str, Any], received_at: datetime,
                    region: str = "DE") -> CallSignal:
    """One generic CTI event → a CallSignal; BadInput names the first bad field."""
    event = _text(data, "event", required=True, limit=20)
    if event not in EVENTS:
        raise BadInput(f"event: one of {', '.join(EVENTS)}", code="unknown_event")
    direction = _text(data, "direction", required=True, limit=10)
    if direction not in ("in", "out"):
        raise InvalidDirection("Invalid direction!")
    call_id = _text(data, "callId", required=True, limit=120)
    if not _CALL_ID.match(call_id):
        raise BadInput("callId: 1-120 characters of [A-Za-z0-9_.:@+/-]", code="invalid_body")
    cause = _text(data, "cause", limit=40)
    if EVENTS[event] == "hangup" and cause and cause not in HANGUP_CAUSES:
        raise BadInput(f"cause: one of {', '.join(HANGUP_CAUSES)}", code="invalid_body")
    return CallSignal(
        kind=EVENTS[event], call_id=call_id, direction=direction,  # type: ignore[arg-type]
        from_number=number_of(_text(data, "from"), region),
        to_number=number_of(_text(data, "to"), region),
        at=_timestamp(data, received_at), users=_users(data), queue=_text(data, "queue"),
        answering=_text(data, "answeringNumber"),
        cause=cause if EVENTS[event] == "hangup" else "", ivr=_ivr(data),
    )


def customer_identity(sig: CallSignal) -> Identity:
    """Who the call is with: a phone identity, or one anonymous contact per call."""
    number = sig.from_number if sig.direction == "in" else sig.to_number
    if number.startswith("+") and number[1:].isdigit():
        return Identity(kind="phone", value=number)
    return Identity(kind="external", value=f"call:{sig.call_id}"[:200])


def envelope_for_call(inbox: str, sig: CallSignal, event_key: str,
                      received_at: datetime, callback_id: str = "") -> Envelope:
    """The ingest entry for one call event. ``provider_id`` is the event's idempotency
    key within the call (``<callId>:<event_key>``); the pipeline stores the call, not a
    message per event."""
    ident = customer_identity(sig)
    attributes = {f"ivr.{k}": v for k, v in sig.ivr.items()}
    if sig.queue:
        attributes["queue"] = sig.queue
    if "language" in sig.ivr:
        attributes["language"] = sig.ivr["language"]
    if callback_id:
        attributes["callback_id"] = callback_id
    return Envelope(
        channel="voice", channel_account=inbox,
        provider_id=f"{sig.call_id}:{event_key}"[:250], sender=ident,
        sender_name="" if ident.kind == "phone" else "Anonymous caller",
        received_at=received_at, attributes=attributes, call=sig,
    )
