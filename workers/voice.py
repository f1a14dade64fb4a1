"""Click-to-call: when an agent accepts a callback work item (router hook) or presses
"Call now", ask the telephony provider to originate the call, agent leg first.

``originate_callback(work_item_id, agent_id)`` is idempotent: it claims the callback
(``requested``/``offered`` → ``dialing``) in a transaction first, so a second run finds
nothing to do. Provider answers are stored through hub/voice/actions/callbacks.py; a transient
failure with attempts left puts the callback back in the queue.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from channels.cti.ami import AmiClient, AmiError, AmiOriginate
from channels.cti.twilio_voice import TwilioError, TwilioVoiceConfig, originate_twilio
from hub.config import Settings
from hub.conversations.pipeline import default_consumer_name
from hub.jobs import ORIGINATE_CALLBACK, originate_job_id
from hub.schema import WorkItemAccepted, WorkItemReassigned, decode_event
from hub.voice.actions.callbacks import DialPlan, claim_for_dialing, record_originate
from hub.voice.store import edge as voice_edge
from workers.event_group import Entries, consume_events

log = logging.getLogger("omnihub.voice")

# Asterisk OriginateResponse Reason codes (channel states of the originated leg) → our
# stable failure codes (hub/voice/rules/callbacks.py DIAL_FAILURES).
AMI_REASONS = {"1": "agent_no_answer", "3": "agent_no_answer", "5": "agent_busy"}
Outcome = tuple[str, str, str, bool, str]  # status, reason code, call id, retryable, detail


def status_callback_url(settings: Settings, inbox: str, configured: str) -> str:
    if configured:
        return configured
    base = (settings.webhook_base_url or settings.public_url).rstrip("/")
    return f"{base}/twilio/voice/{inbox}/status"


async def _dial_twilio(ctx: dict[str, Any], plan: DialPlan) -> Outcome:
    settings: Settings = ctx["settings"]
    c = plan.config
    cfg = TwilioVoiceConfig(
        account_sid=str(c["account_sid"]), auth_token=str(c["auth_token"]),
        caller_id=str(c["caller_id"]), agent_to=str(c.get("agent_to", "client:{extension}")),
        api_base=str(c.get("api_base") or settings.twilio_api_base),
        status_callback_url=status_callback_url(settings, plan.inbox,
                                                str(c.get("status_callback_url", ""))),
        timeout_s=int(c.get("timeout_s", 30)))
    try:
        sid = await originate_twilio(ctx["http"], cfg, extension=plan.extension,
                                     customer=plan.phone, callback_id=plan.callback_id)
    except TwilioError as exc:
        return "failed", exc.code, "", not exc.permanent, exc.reason
    # Still dialing: the status callbacks say when the agent answers and the call ends.
    return "dialing", "", sid, False, ""


async def _dial_ami(plan: DialPlan) -> Outcome:
    c = plan.config
    client = AmiClient(str(c["host"]), int(c.get("port", 5038)), str(c["username"]),
                       str(c["secret"]), timeout_s=float(c.get("timeout_s", 10)))
    request = AmiOriginate(
        channel=str(c.get("channel", "PJSIP/{extension}")).replace("{extension}",
                                                                   plan.extension),
        exten=plan.phone.lstrip("+") if c.get("strip_plus", True) else plan.phone,
        context=str(c.get("context", "from-internal")), caller_id=str(c.get("caller_id", "")),
        timeout_ms=int(c.get("timeout_ms", 30_000)),
        variables=(("OMNIHUB_CALLBACK", str(plan.callback_id)),
                   ("OMNIHUB_CUSTOMER", plan.phone)))
    try:
        result = await client.originate(request, f"omnihub-cb-{plan.callback_id}-{plan.attempt}")
    except AmiError as exc:
        return "failed", exc.code, "", not exc.permanent, exc.reason
    if result.ok:
        # The agent answered and Asterisk continues in the dialplan to the customer.
        return "connected", "", result.unique_id, False, ""
    # Busy / no answer on the agent's phone: the agent may try again.
    return ("failed", AMI_REASONS.get(result.reason, "agent_leg_failed"), result.unique_id,
            True, f"OriginateResponse Reason {result.reason}")


async def originate_callback(ctx: dict[str, Any], work_item_id: int, agent_id: int,
                             callback_id: int | None = None) -> str:
    """``callback_id``: the one the agent chose ("Call now"); else the item's oldest
    waiting callback (the router's acceptance)."""
    plan = await claim_for_dialing(ctx["pool"], ctx["publisher"], work_item_id, agent_id,
                                   callback_id)
    if plan is None:
        return "nothing to dial"
    if plan.kind == "twilio":
        status, code, call_id, retryable, detail = await _dial_twilio(ctx, plan)
    elif plan.kind == "ami":
        status, code, call_id, retryable, detail = await _dial_ami(plan)
    else:
        status, code, call_id, retryable, detail = ("failed", "no_provider", "", False,
                                                    f"unknown provider {plan.kind}")
    stored = await record_originate(ctx["pool"], ctx["publisher"], plan.callback_id,
                                    status=status, reason=code, provider_call_id=call_id,
                                    retryable=retryable)
    if status == "failed":
        # The detail (exception text, the PBX's words) is for operators only.
        log.warning("callback %d: originate failed (%s, %s): %s", plan.callback_id,
                    plan.kind, code, detail)
    return stored


# ---- reacting to the router (docs/routing.md "Hook for channels: workitem.accepted") ----

HOOK_GROUP = "voice-originate"


async def enqueue_originate(redis: Any, settings: Settings, work_item_id: int,
                            agent_id: int, attempt: int = 0) -> None:
    from arq.connections import ArqRedis

    arq = redis if isinstance(redis, ArqRedis) else ArqRedis(
        connection_pool=redis.connection_pool)
    await arq.enqueue_job(ORIGINATE_CALLBACK, work_item_id, agent_id,
                          _job_id=originate_job_id(settings, work_item_id, agent_id,
                                                   attempt),
                          _queue_name=settings.arq_queue)


def hook_target(payload: bytes) -> tuple[int, int] | None:
    """(work item, agent) when this event means an agent now holds a voice item."""
    try:
        event = decode_event(payload)
    except msgspec.MsgspecError:
        return None
    if isinstance(event, WorkItemAccepted) and event.channel == "voice":
        return event.work_item_id, event.agent_id
    if isinstance(event, WorkItemReassigned) and event.channel == "voice":
        return event.work_item_id, event.to_agent_id
    return None


async def watch_acceptances(ctx: dict[str, Any], *, block_ms: int = 2000) -> None:
    """Consumer group on the events stream: an accepted (or picked / reassigned) voice
    item with a waiting callback gets its originate job. XACK after the enqueue; the job
    id makes a redelivery harmless. Owned by the worker's startup/shutdown."""
    settings: Settings = ctx["settings"]
    redis = ctx["redis_plain"]

    async def handle(entries: Entries) -> None:
        for _, fields in entries:
            target = hook_target(fields.get(b"e", b"")) if fields else None
            if target is not None:
                await enqueue_originate(ctx["redis"], settings, *target)

    await consume_events(redis, settings.events_stream, HOOK_GROUP,
                         f"voice-{default_consumer_name()}", handle, label="voice hook",
                         block_ms=block_ms)


async def dial_accepted_callbacks(ctx: dict[str, Any]) -> int:
    """Sweep (cron): callbacks still waiting while their item is held by an agent for
    10 s who has not dialled it — the acceptance event was missed (trimmed, worker
    down). Enqueue the job. A callback whose dial failed for its holder waits for
    their "Call now" instead (no automatic redial)."""
    rows = await voice_edge.callbacks_to_dial(ctx["pool"])
    for r in rows:
        await enqueue_originate(ctx["redis"], ctx["settings"], r["id"], r["agent_id"],
                                r["attempts"])
    return len(rows)
