"""The acknowledgement of a new email case (arq job ``send_email_ack``) and its sweep.

The pipeline inserts an ``email_acks`` row 'pending' with the case (only for mail that
passed the suppression rules) and enqueues this job after commit. The job:

1. claims the row (pending → sending) and, in that transaction, refuses what cannot be
   sent (no relay, no mailbox: 'failed' with the reason), applies the per-sender window
   (at most one ack per address per ``email_ack_window_s``: a Redis ``SET NX EX`` whose
   value is the conversation id, so a retry of the same ack passes and any other is
   'suppressed' "rate-limited"), and stores the ack's Message-ID ('out' row) before it
   leaves;
2. sends it with the null envelope sender (``MAIL FROM:<>``), ``Auto-Submitted:
   auto-replied`` and ``X-Auto-Response-Suppress: All``, in the template of the row's
   locale;
3. records 'sent' (or 'failed' with the server's words, or back to 'pending' for a retry
   with the same Message-ID) and a visible system message in the conversation, so the
   agent sees what the customer got.

A worker dying mid-send leaves the row 'sending'; the sweep marks it 'failed' "outcome
unknown", never sends it again. Pending rows whose enqueue was lost are re-enqueued."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from arq import Retry

from channels.email.compose import OutgoingMail, Parent, build_auto_ack, new_message_id
from channels.email.smtp_sender import SmtpRelay, send_mail
from channels.email.templates import AckTemplate
from hub.config import Settings
from hub.conversations.store.queries import message_from
from hub.email.jobs import SEND_EMAIL_ACK, email_ack_job_id
from hub.email.store import acks as ack_store
from hub.schema import AnyEvent, MessageCreated
from hub.unit_of_work import unit_of_work
from workers.delivery import OUTCOME_UNKNOWN
from workers.email_send import inbox_mailbox, relay_or_fail, retry_delay
from workers.senders import Undeliverable

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("omnihub.worker")

ACK_AUTHOR = "Automatic acknowledgement"
PENDING_GRACE_S = 30  # the pipeline enqueues right after commit; older = the enqueue was lost


@dataclass(frozen=True, slots=True)
class ClaimedAck:
    conversation_id: int
    inbox: str
    to_address: str
    relay: SmtpRelay
    mail: OutgoingMail


@dataclass(frozen=True, slots=True)
class RefusedAck:
    """Claimed, but cannot be sent at all (no relay, no mailbox)."""

    to_address: str
    reason: str


def window_key(settings: Settings, address: str) -> str:
    digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()[:32]
    return f"{settings.key_prefix}email:ack-window:{digest}"


async def take_window(redis: Any, settings: Settings, address: str, conversation_id: int) -> bool:
    """True when this conversation may acknowledge ``address`` now: nobody holds the
    window, or this same conversation does (a retry of its own ack)."""
    key = window_key(settings, address)
    if await redis.set(key, str(conversation_id), nx=True, ex=settings.email_ack_window_s):
        return True
    holder = await redis.get(key)
    return holder is not None and int(holder) == conversation_id


async def _claim(ctx: dict[str, Any], conversation_id: int) -> ClaimedAck | RefusedAck | str:
    """pending → sending, then refuse / rate-limit / store the Message-ID, in one
    transaction. Returns the ack to send, or a word for what happened instead."""
    pool: asyncpg.Pool = ctx["pool"]
    settings: Settings = ctx["settings"]
    async with pool.acquire() as conn, conn.transaction():
        row = await ack_store.claim_pending_ack(conn, conversation_id)
        if row is None:
            return "not pending (already handled)"
        conv = await ack_store.ack_conversation(conn, conversation_id)
        try:
            relay = relay_or_fail(settings)
            mailbox = await inbox_mailbox(conn, row["inbox"], settings)
        except Undeliverable as exc:
            return RefusedAck(row["to_address"], str(exc))  # committed 'sending', ended below
        enabled, templates = await inbox_ack_templates(conn, row["inbox"])
        if not enabled:
            await _end(conn, conversation_id, "suppressed", "acknowledgements are off for"
                       " this inbox")
            return "off for this inbox"
        if await ack_store.agent_replied(conn, conversation_id):
            # The ack would arrive after (or beside) a real answer: pointless, confusing.
            await _end(conn, conversation_id, "suppressed", "an agent replied first")
            return "agent replied first"
        if not await take_window(ctx["redis"], settings, row["to_address"], conversation_id):
            await _end(conn, conversation_id, "suppressed", "rate-limited")
            return "rate-limited"
        message_id = row["message_id"] or new_message_id(mailbox.domain)
        if not row["message_id"]:
            await ack_store.store_ack_message_id(conn, row["inbox"], conversation_id,
                                                 message_id)
        parent = Parent(message_id=row["parent_message_id"] or None,
                        subject=str(conv["subject"] or "") if conv else "")
        mail = build_auto_ack(
            conversation_id=conversation_id, secret=settings.secret_key, domain=mailbox.domain,
            from_addr=mailbox.address, from_name=mailbox.display_name, to=row["to_address"],
            parent=parent, contact_name=str(conv["name"] or "") if conv else "",
            case_ref=f"#{conversation_id}", locale=row["locale"], message_id=message_id,
            now=row["created_at"], templates=templates,
        )
        return ClaimedAck(conversation_id, row["inbox"], row["to_address"], relay, mail)


async def inbox_ack_templates(conn: asyncpg.Connection, inbox: str
                              ) -> tuple[bool, dict[str, AckTemplate] | None]:
    """(on?, the inbox's own templates by language, or None for the built-in ones)."""
    enabled, rows = await ack_store.inbox_ack_settings(conn, inbox)
    own = {r["language"]: AckTemplate(r["language"], r["body"]) for r in rows}
    return enabled is not False, own or None


async def _end(conn: asyncpg.Connection, conversation_id: int, status: str, reason: str) -> None:
    await ack_store.end_ack(conn, conversation_id, status, reason[:500])


async def _record(ctx: dict[str, Any], conversation_id: int, *, status: str, reason: str,
                  text: str, only_from: tuple[str, ...] = ("sending",)) -> bool:
    """End the ack and show it in the conversation (one transaction, events after
    commit). False when the row was not in ``only_from`` any more."""
    pool: asyncpg.Pool = ctx["pool"]
    events: list[AnyEvent] = []
    async with unit_of_work(pool, ctx["publisher"]) as uow:
        async with uow.transaction() as conn:
            ack = await ack_store.end_ack_from(conn, conversation_id, status, reason[:500],
                                               list(only_from))
            if ack is None:
                return False
            row = await ack_store.upsert_ack_message(
                conn, conversation_id, ack["inbox"], ACK_AUTHOR, text,
                "sent" if status == "sent" else "failed", reason[:500])
            if ack["message_id"]:
                await ack_store.link_message_row(conn, ack["inbox"], ack["message_id"],
                                                 row["id"])
            events.append(MessageCreated(inbox=ack["inbox"], message=message_from(row)))
            await uow.emit(events)
    return True


def _body(mail: OutgoingMail) -> str:
    body = mail.message.get_body(("plain",))
    return str(body.get_content()).strip() if body is not None else ""


async def send_email_ack(ctx: dict[str, Any], conversation_id: int) -> str:
    claimed = await _claim(ctx, conversation_id)
    if isinstance(claimed, str):
        return claimed
    if isinstance(claimed, RefusedAck):
        await _record(ctx, conversation_id, status="failed", reason=claimed.reason,
                      text=f"Automatic acknowledgement to {claimed.to_address} was not sent.")
        return "failed"
    result = await send_mail(claimed.relay, claimed.mail)
    settings: Settings = ctx["settings"]
    if result.ok:
        # 'failed' too: a sweep that gave up on a slow send is corrected by the truth.
        await _record(ctx, conversation_id, status="sent", reason=result.error,
                      text=_body(claimed.mail), only_from=("sending", "failed"))
        return "sent"
    tries = ctx.get("job_try", 1)
    delay = retry_delay(settings, tries) if result.retryable else None
    if delay is not None:
        async with ctx["pool"].acquire() as conn:
            await ack_store.requeue_ack(conn, conversation_id,
                                        f"{result.error} (try {tries})"[:500])
        raise Retry(defer=timedelta(seconds=delay))
    await _record(ctx, conversation_id, status="failed", reason=result.error,
                  text=f"Automatic acknowledgement to {claimed.to_address} was not sent.")
    return "failed"


async def sweep_email_acks(ctx: dict[str, Any]) -> int:
    """Re-enqueue pending acks whose job was lost; fail acks stuck 'sending'."""
    pool: asyncpg.Pool = ctx["pool"]
    settings: Settings = ctx["settings"]
    pending = await ack_store.pending_acks(pool, float(PENDING_GRACE_S))
    for conversation_id in pending:
        await ctx["redis"].enqueue_job(SEND_EMAIL_ACK, conversation_id,
                                       _job_id=email_ack_job_id(settings, conversation_id),
                                       _queue_name=settings.arq_queue)
    stuck = await ack_store.stuck_acks(pool, float(settings.delivery_stuck_after_s))
    for r in stuck:
        log.warning("ack of conversation %s stuck sending; failed (outcome unknown)",
                    r["conversation_id"])
        await _record(ctx, r["conversation_id"], status="failed", reason=OUTCOME_UNKNOWN,
                      text=f"Automatic acknowledgement to {r['to_address']}: outcome unknown.")
    return len(pending)
