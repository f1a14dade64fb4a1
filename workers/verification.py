"""Send a verification code (arq job ``send_verification_code``, docs/identity.md
"Verifying a claim"): by mail through the outgoing relay, from the first email inbox's
address; by text through the first SMS inbox's Twilio account.

The job claims its row (queued -> sending) only while the code can still be used, so a
repeat never sends twice; it recomputes the code from the secret key (the code is never
stored), sends it, and records sent / failed with a ``verification.updated`` event for
the agent and the widget. A transient failure goes back to queued and is retried a few
times (the code lives 10 minutes, a late code is useless)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from arq import Retry

from channels.email.compose import OutgoingMail, new_message_id
from channels.email.smtp_sender import SmtpRelay, send_mail
from channels.twilio.send import send_twilio_message
from hub.config import Settings
from hub.contacts.actions.verification import verification_event
from hub.contacts.rules.verification import CODE_TTL_S, derive_code
from hub.contacts.store import verification as store
from hub.contacts.store import verification_delivery
from hub.unit_of_work import unit_of_work

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("omnihub.worker")
MAX_SEND_TRIES = 3


def code_text(code: str) -> str:
    return (f"Your verification code is {code}. It expires in {CODE_TTL_S // 60} minutes.\n\n"
            "Enter it in the chat window. If you did not ask for it, ignore this message.")


def code_mail(*, sender: str, sender_name: str, domain: str, to: str, code: str
              ) -> OutgoingMail:
    msg = EmailMessage()
    msg["From"] = f"{sender_name} <{sender}>" if sender_name else sender
    msg["To"] = to
    msg["Subject"] = f"Your verification code: {code}"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = new_message_id(domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(code_text(code))
    return OutgoingMail(msg, sender, (to,))


async def _send(ctx: dict[str, Any], row: asyncpg.Record, code: str) -> tuple[bool, str, bool]:
    """(sent, error, retryable)."""
    settings: Settings = ctx["settings"]
    pool: asyncpg.Pool = ctx["pool"]
    if row["via"] == "email":
        relay = SmtpRelay.from_settings(settings)
        sender = await store.mail_sender(pool)
        if relay is None:
            return False, "no outgoing mail relay configured", False
        address = (sender["email_address"] if sender is not None
                   else f"no-reply@{settings.email_domain}")
        name = sender["email_display_name"] if sender is not None else ""
        domain = settings.email_domain or address.rpartition("@")[2]
        result = await send_mail(relay, code_mail(sender=address, sender_name=name,
                                                  domain=domain, to=row["value"], code=code))
        return result.ok, result.error, result.retryable
    account = await store.sms_account(pool)
    if account is None:
        return False, "no SMS inbox with a Twilio account", False
    sms = await send_twilio_message(
        ctx["http"], base=settings.twilio_api_base, account_sid=account["account_sid"],
        auth_token=account["auth_token"], sender=account["external_id"], to=row["value"],
        body=code_text(code), status_callback="")
    return sms.ok, sms.error, sms.retryable


async def _finish(ctx: dict[str, Any], verification_id: int, delivery: str, error: str) -> None:
    pool: asyncpg.Pool = ctx["pool"]
    async with unit_of_work(pool, ctx["publisher"]) as uow:
        async with uow.transaction() as conn:
            row = await store.record_delivery(conn, verification_id, delivery, error)
            if row is None:
                return
            # The widget gets this event too: no relay or provider words in it.
            event = verification_event(
                row, "sent" if delivery == "sent" else "undeliverable",
                reason="" if delivery == "sent" else "the code could not be sent")
            await uow.emit([event])


async def send_verification_code(ctx: dict[str, Any], verification_id: int) -> str:
    settings: Settings = ctx["settings"]
    row = await store.claim_for_sending(ctx["pool"], verification_id)
    if row is None:
        return "skipped"
    code = derive_code(settings.secret_key, row["id"], row["code_salt"])
    try:
        sent, error, retryable = await _send(ctx, row, code)
    except Exception:  # a bug must not leave the row 'sending' for ever
        log.exception("verification %s: send failed", verification_id)
        sent, error, retryable = False, "internal error while sending", False
    if sent:
        await _finish(ctx, verification_id, "sent", "")
        return "sent"
    tries = int(ctx.get("job_try", 1))
    if retryable and tries < MAX_SEND_TRIES:
        await verification_delivery.requeue_verification(ctx["pool"], verification_id, error[:500])
        raise Retry(defer=timedelta(seconds=5 * tries))
    await _finish(ctx, verification_id, "failed", error)
    return "failed"
