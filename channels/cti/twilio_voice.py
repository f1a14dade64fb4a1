"""Twilio Voice: originate a click-to-call (agent leg first) through the Calls API, and
turn call status callbacks into ``CallSignal``s (protocols.md §1.6).

The status callback is verified with the shared ``channels/twilio/signature.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

import httpx

from channels.cti.numbers import to_e164
from hub.errors import BadInput
from hub.voice.rules.callstate import CallSignal, Signal

# CallStatus → (signal, hangup cause)
_STATUS: dict[str, tuple[Signal, str]] = {
    "queued": ("ring", ""), "initiated": ("ring", ""), "ringing": ("ring", ""),
    "in-progress": ("answer", ""), "answered": ("answer", ""),
    "completed": ("hangup", "normalClearing"), "busy": ("hangup", "busy"),
    "no-answer": ("hangup", "noAnswer"), "canceled": ("hangup", "cancel"),
    "failed": ("hangup", "failed"),
}


class TwilioError(Exception):
    """``code``: the stable reason (hub/voice/rules/callbacks.py DIAL_FAILURES): a refusal
    (4xx) is ``provider_refused``, else ``provider_unavailable``; ``reason`` is the
    detail, for logs only."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = "provider_refused" if permanent else "provider_unavailable"


def _at(params: dict[str, str], received_at: datetime) -> datetime:
    raw = params.get("Timestamp", "")
    if not raw:
        return received_at
    try:
        at = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return received_at
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def signal_from_status(params: dict[str, str], received_at: datetime, *,
                       customer: str = "", agent: str = "") -> tuple[CallSignal, str]:
    """(signal, event key) for one status callback. ``customer`` / ``agent``: for a
    click-to-call the customer's number and the agent's extension (the call's own
    To is the agent leg)."""
    sid = params.get("CallSid", "")
    status = params.get("CallStatus", "")
    if not sid or len(sid) > 64 or not sid.isalnum():
        raise BadInput("CallSid: required, alphanumeric", code="invalid_body")
    if status not in _STATUS:
        raise BadInput(f"CallStatus: one of {', '.join(_STATUS)}", code="invalid_body")
    kind, cause = _STATUS[status]
    direction = "in" if params.get("Direction", "inbound") == "inbound" else "out"
    from_number = to_e164(params.get("From", ""), strict=False) or params.get("From", "")
    to_number = to_e164(params.get("To", ""), strict=False) or params.get("To", "")
    if customer:
        to_number = customer
    seq = params.get("SequenceNumber", "")
    key = f"twilio:{status}:{seq}" if seq.isdigit() else f"twilio:{status}"
    return CallSignal(
        kind=kind, call_id=sid, direction=direction,  # type: ignore[arg-type]
        from_number=from_number[:64], to_number=to_number[:64],
        at=_at(params, received_at), users=(agent,) if agent else (), cause=cause,
        answering=agent if kind == "answer" else "",
    ), key


@dataclass(frozen=True, slots=True)
class TwilioVoiceConfig:
    account_sid: str
    auth_token: str
    caller_id: str                       # the number the customer sees
    agent_to: str = "client:{extension}"  # the agent leg: client:, sip:, or a number
    api_base: str = "https://api.twilio.com"
    status_callback_url: str = ""        # public URL of /twilio/voice/{inbox}/status
    timeout_s: int = 30


def dial_twiml(customer: str, caller_id: str) -> str:
    """Said to the agent leg once answered: bridge to the customer."""
    return ("<Response><Dial callerId=" + quoteattr(caller_id) + "><Number>"
            + escape(customer) + "</Number></Dial></Response>")


async def originate_twilio(http: httpx.AsyncClient, cfg: TwilioVoiceConfig, *,
                           extension: str, customer: str, callback_id: int) -> str:
    """POST Calls.json; returns the CallSid. Agent leg first, customer via TwiML."""
    url = f"{cfg.api_base.rstrip('/')}/2010-04-01/Accounts/{cfg.account_sid}/Calls.json"
    form: list[tuple[str, str]] = [
        ("To", cfg.agent_to.replace("{extension}", extension)),
        ("From", cfg.caller_id),
        ("Twiml", dial_twiml(customer, cfg.caller_id)),
        ("Timeout", str(cfg.timeout_s)),
    ]
    if cfg.status_callback_url:
        sep = "&" if "?" in cfg.status_callback_url else "?"
        form.append(("StatusCallback", f"{cfg.status_callback_url}{sep}callback={callback_id}"))
        form.append(("StatusCallbackMethod", "POST"))
        form.extend(("StatusCallbackEvent", e)
                    for e in ("initiated", "ringing", "answered", "completed"))
    try:
        # Repeated keys (StatusCallbackEvent): encode the form ourselves.
        resp = await http.post(url, content=urlencode(form).encode(),
                               headers={"Content-Type": "application/x-www-form-urlencoded"},
                               auth=(cfg.account_sid, cfg.auth_token), timeout=15.0)
    except httpx.HTTPError as exc:
        raise TwilioError(f"Twilio unreachable: {type(exc).__name__}", permanent=False) from None
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code >= 500 or resp.status_code == 429:
        raise TwilioError(f"Twilio HTTP {resp.status_code}", permanent=False)
    if resp.status_code >= 400:
        message = str(body.get("message") or f"HTTP {resp.status_code}")[:300]
        raise TwilioError(f"Twilio refused the call: {message}", permanent=True)
    sid = str(body.get("sid") or "")
    if not sid.startswith("CA"):
        raise TwilioError("Twilio answered without a call sid", permanent=False)
    return sid
