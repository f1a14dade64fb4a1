"""Email channel sender: an agent's reply as a threaded mail through the SMTP relay.

In the claim's transaction (``prepare``) the reply gets its Message-ID, stored in
``email_message_ids`` as 'out' before anything leaves, so a customer's answer to it can
always be threaded and a bounce can always find it. The same Message-ID (and Date) is
used by every retry: the mail is rebuilt identically from the stored row."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from channels.email.compose import OutgoingMail, Parent, build_reply, new_message_id
from channels.email.ingest_sink import FileBlobStore
from channels.email.reply_recipients import ReplyRecipients, choose_reply_recipients
from channels.email.smtp_sender import SmtpRelay, send_mail
from hub.config import Settings
from hub.email.store import sends as mail_store
from hub.schema import AttachmentRef
from workers.senders import Attempt, OutboundMessage, Undeliverable

if TYPE_CHECKING:
    import asyncpg

MAX_RETRY_DELAY_S = 1800.0


@dataclass(frozen=True, slots=True)
class Mailbox:
    """Where an inbox sends from, and our domain for Message-IDs and reply addresses."""

    address: str
    display_name: str
    domain: str


@dataclass(frozen=True, slots=True)
class PreparedReply:
    relay: SmtpRelay
    mail: OutgoingMail


def retry_delay(settings: Settings, tries: int) -> float | None:
    """Exponential from smtp_retry_base_s, capped at 30 min; None after smtp_max_tries."""
    if tries >= settings.smtp_max_tries:
        return None
    return float(min(MAX_RETRY_DELAY_S, settings.smtp_retry_base_s * 2 ** (tries - 1)))


async def inbox_mailbox(conn: asyncpg.Connection, inbox: str, settings: Settings) -> Mailbox:
    r = await mail_store.inbox_sender(conn, inbox)
    if r is None or not r["email_address"]:
        raise Undeliverable(f"inbox {inbox!r} has no sending address (set its email address)")
    address = str(r["email_address"])
    domain = settings.email_domain or address.rpartition("@")[2]
    return Mailbox(address, str(r["email_display_name"]), domain.lower())


def relay_or_fail(settings: Settings) -> SmtpRelay:
    if len(settings.secret_key) < 16:
        raise Undeliverable("OMNIHUB_SECRET_KEY is not set: reply addresses cannot be signed")
    relay = SmtpRelay.from_settings(settings)
    if relay is None:
        raise Undeliverable("no outgoing mail relay configured (OMNIHUB_SMTP_RELAY_HOST)")
    return relay


async def recipient(conn: asyncpg.Connection, conversation_id: int) -> tuple[str, str, str]:
    """(address, contact name, conversation subject). The identity that opened the
    conversation wins over the contact's stored email."""
    r = await mail_store.conversation_recipient(conn, conversation_id)
    if r is None:
        raise Undeliverable("conversation not found")
    kind, _, value = str(r["contact_identity"]).partition(":")
    address = value if kind == "email" and "@" in value else (r["email"] or "")
    if "@" not in address:
        raise Undeliverable("the contact has no email address")
    return address, str(r["name"] or ""), str(r["subject"] or "")


async def reply_recipients(conn: asyncpg.Connection, conversation_id: int, address: str,
                           settings: Settings, mailbox: Mailbox) -> ReplyRecipients:
    """Reply-To and reply-all over the customer's newest mail in the case; our own
    mailboxes and domains are never copied."""
    latest = await mail_store.latest_inbound_mail_attributes(conn, conversation_id)
    ours = await mail_store.our_mail_addresses(conn)
    attrs = ({k: v for k, v in msgspec.json.decode(latest).items() if isinstance(v, str)}
             if latest else None)
    return choose_reply_recipients(
        attrs, address, [mailbox.address, *ours],
        [mailbox.domain, settings.email_domain])


async def _stored_recipients(conn: asyncpg.Connection, message_row: int
                             ) -> ReplyRecipients | None:
    r = await mail_store.stored_recipients(conn, message_row)
    if r is None or not r["to_"]:
        return None
    return ReplyRecipients(to=r["to_"], cc=tuple(a for a in (r["cc"] or "").split(", ") if a))


async def _attachment_files(conn: asyncpg.Connection, message_row: int, settings: Settings
                            ) -> list[tuple[str, str, bytes]]:
    """The reply's uploaded files, read from the blob store the web process wrote (a
    missing blob makes the reply undeliverable, with the reason, rather than incomplete)."""
    raw = await mail_store.message_attachments(conn, message_row)
    refs = msgspec.json.decode(raw or b"[]", type=list[AttachmentRef])
    if not refs:
        return []
    store = FileBlobStore(settings.mail_blob_dir)

    def read() -> list[tuple[str, str, bytes]]:
        out = []
        for r in refs:
            try:
                out.append((r.filename, r.content_type, store.get(r.ref)))
            except (OSError, ValueError):
                raise Undeliverable(f"attachment {r.filename!r} is missing from the file"
                                    " store (OMNIHUB_MAIL_BLOB_DIR)") from None
        return out
    return await asyncio.to_thread(read)


async def thread_parent(conn: asyncpg.Connection, conversation_id: int, subject: str,
                        exclude: str) -> Parent | None:
    """The parent is the newest inbound mail of the conversation (else our newest mail);
    References are the conversation's other stored ids, oldest first (compose keeps the
    root and the newest when long)."""
    rows = await mail_store.thread_message_ids(conn, conversation_id, exclude)
    if not rows:
        return None
    inbound = [r for r in rows if r["direction"] == "in"]
    parent_id = (inbound or rows)[-1]["message_id"]
    refs = tuple(r["message_id"] for r in rows if r["message_id"] != parent_id)
    return Parent(message_id=parent_id, references=refs, subject=subject)


async def claim_message_id(conn: asyncpg.Connection, *, inbox: str, conversation_id: int,
                           message_row: int, domain: str) -> str:
    """The Message-ID of this outbound message: the stored one on a retry, else a new
    one stored now (in the caller's transaction, before the send)."""
    existing = await mail_store.outbound_message_id(conn, message_row)
    if existing:
        return existing
    message_id = new_message_id(domain)
    await mail_store.store_outbound_message_id(conn, inbox=inbox, message_id=message_id,
                                               conversation_id=conversation_id,
                                               message_row=message_row)
    return message_id


def from_name(mailbox: Mailbox, author: str) -> str:
    """``Anna via Support`` (as Zammad shows the agent), or just the mailbox's name."""
    if author and mailbox.display_name:
        return f"{author} via {mailbox.display_name}"
    return mailbox.display_name or author


class EmailSender:
    async def prepare(self, conn: asyncpg.Connection, msg: OutboundMessage,
                      settings: Settings) -> PreparedReply:
        relay = relay_or_fail(settings)
        mailbox = await inbox_mailbox(conn, msg.inbox, settings)
        address, _name, subject = await recipient(conn, msg.conversation_id)
        rcpt = await _stored_recipients(conn, msg.id)
        if rcpt is None:
            rcpt = await reply_recipients(conn, msg.conversation_id, address, settings, mailbox)
            # Kept on the row: the agent's timeline shows them, and a retry reuses them.
            await mail_store.keep_recipients(
                conn, msg.id, msgspec.json.encode({"email.to": rcpt.to,
                                                   "email.cc": ", ".join(rcpt.cc)}).decode())
        message_id = await claim_message_id(conn, inbox=msg.inbox,
                                            conversation_id=msg.conversation_id,
                                            message_row=msg.id, domain=mailbox.domain)
        parent = await thread_parent(conn, msg.conversation_id, subject, message_id)
        files = await _attachment_files(conn, msg.id, settings)
        mail = build_reply(
            conversation_id=msg.conversation_id, secret=settings.secret_key,
            domain=mailbox.domain, from_addr=mailbox.address,
            from_name=from_name(mailbox, msg.author_name), to=[rcpt.to], cc=rcpt.cc,
            text=msg.text,
            subject=subject, parent=parent, message_id=message_id, now=msg.created_at,
            attachments=files,
        )
        return PreparedReply(relay, mail)

    async def send(self, ctx: dict[str, Any], msg: OutboundMessage,
                   prepared: PreparedReply) -> Attempt:
        result = await send_mail(prepared.relay, prepared.mail)
        return Attempt(result.ok, result.error, result.retryable)

    def retry_delay(self, settings: Settings, tries: int) -> float | None:
        return retry_delay(settings, tries)
