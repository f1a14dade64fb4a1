"""Verifying a claim with a one-time code: the state changes (rules: hub/contacts/rules/verification.py,
SQL: hub/contacts/store/verification.py, docs/identity.md "Verifying a claim").

``request_verification`` (an agent, REST) records a verification and its event; the web
edge then enqueues the sending job (workers/verification.py). ``answer_verification``
(the visitor, widget socket) judges a typed code; a right one links the identity to the
customer who owns it, through the merge code (hub/contacts/actions/merge.py), in the same
transaction. Events go through the outbox, published after commit.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hub.config import Settings
from hub.contacts.actions.merge import merge_in_transaction
from hub.contacts.rules.identity import parse_identity_key
from hub.contacts.rules.verification import (
    MAX_ATTEMPTS,
    PER_AGENT_LIMIT,
    PER_TARGET_LIMIT,
    RATE_WINDOW_S,
    VISITOR_TEXT,
    channel_for,
    clean_code,
    derive_code,
    expiry,
    judge_answer,
    masked_target,
)
from hub.contacts.store import verification as store
from hub.contacts.store.contacts import live_contact_id, visible_inboxes
from hub.errors import BadInput, Conflict, NotFound, RateLimited
from hub.outbox import Publisher
from hub.schema import Agent, AnyEvent, VerificationStatus, VerificationUpdated
from hub.unit_of_work import unit_of_work

if TYPE_CHECKING:
    import asyncpg


def verification_event(row: asyncpg.Record | dict[str, Any], status: VerificationStatus,
                       *, attempts: int | None = None, reason: str = "",
                       by_agent_id: int | None = None) -> VerificationUpdated:
    used = row["attempts"] if attempts is None else attempts
    return VerificationUpdated(
        inbox=row["inbox"], conversation_id=row["conversation_id"], verification_id=row["id"],
        contact_id=row["contact_id"], kind=row["kind"],
        target=masked_target(row["kind"], row["value"]), status=status,
        attempts_left=max(0, MAX_ATTEMPTS - used), expires_at=row["expires_at"],
        reason=reason, by_agent_id=by_agent_id)


async def _check_deliverable(conn: asyncpg.Connection, settings: Settings, via: str) -> None:
    """A clear 409 now rather than a code that can never arrive."""
    if len(settings.secret_key) < 16:
        raise Conflict("OMNIHUB_SECRET_KEY is not set: codes cannot be made")
    if via == "email":
        if not settings.smtp_relay_host:
            raise Conflict("no outgoing mail relay is configured (OMNIHUB_SMTP_RELAY_HOST):"
                           " the code cannot be emailed", code="undeliverable")
        if await store.mail_sender(conn) is None and not settings.email_domain:
            raise Conflict("no email inbox with an address to send the code from",
                           code="undeliverable")
    elif await store.sms_account(conn) is None:
        raise Conflict("no SMS inbox with a Twilio account: the code cannot be texted",
                       code="undeliverable")


async def request_verification(pool: asyncpg.Pool, publisher: Publisher, settings: Settings,
                               actor: Agent, contact_id: int, claim: str,
                               conversation_id: int | None = None) -> dict[str, Any]:
    """Start verifying one claim of the contact: the visitor of its open chat conversation
    will be asked for the code sent to the claimed address."""
    ident = parse_identity_key(claim[:400])
    if ident.kind not in ("email", "phone"):
        raise BadInput("claim: only an email or phone claim can be verified")
    via = channel_for(ident.kind)
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            live = await live_contact_id(conn, contact_id)
            inboxes = await visible_inboxes(conn, actor, live)
            if await store.identity_owner(conn, ident.kind, ident.value) == live:
                raise Conflict("this identity is already verified on this contact")
            if not await store.has_claim(conn, live, ident.kind, ident.value):
                raise NotFound("this contact has no such claim")
            conv = await store.chat_conversation(conn, live, conversation_id, inboxes)
            if conv is None:
                raise Conflict("no open chat conversation of this contact in your inboxes:"
                               " the customer needs one to enter the code",
                               code="no_conversation")
            if not conv["contact_identity"].startswith("visitor:"):
                raise Conflict("this conversation's customer cannot be asked for a code")
            await _check_deliverable(conn, settings, via)
            await store.lock_target(conn, ident.kind, ident.value)
            target, mine = await store.recent_counts(conn, ident.kind, ident.value, actor.id,
                                                     RATE_WINDOW_S)
            if target >= PER_TARGET_LIMIT:
                raise RateLimited(f"at most {PER_TARGET_LIMIT} codes per address per hour;"
                                  " try again later")
            if mine >= PER_AGENT_LIMIT:
                raise RateLimited(f"at most {PER_AGENT_LIMIT} codes per agent per hour")
            superseded = await store.supersede_pending(conn, conv["id"])
            row = await store.insert(
                conn, contact_id=live, kind=ident.kind, value=ident.value,
                conversation_id=conv["id"], inbox=conv["inbox"],
                claimant=conv["contact_identity"], via=via, salt=secrets.token_hex(16),
                created_by=actor.id, expires_at=expiry(datetime.now(UTC)))
            await store.audit(conn, actor.id, "identity.verification.request",
                              f"contact:{live}", json.dumps({
                                  "verification_id": row["id"], "claim": f"{ident.kind}:"
                                  f"{ident.value}", "via": via, "conversation_id": conv["id"],
                                  "superseded": superseded}))
            await uow.emit([verification_event(
                row, "requested", by_agent_id=actor.id)])
    return _agent_view(row)


def _agent_view(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "contact_id": row["contact_id"], "kind": row["kind"],
            "value": row["value"], "conversation_id": row["conversation_id"],
            "via": row["via"], "status": row["status"], "delivery": row["delivery"],
            "attempts_left": max(0, MAX_ATTEMPTS - row["attempts"]),
            "expires_at": row["expires_at"]}


_EVENT_OF: dict[str, VerificationStatus] = {
    "verified": "verified", "wrong_code": "wrong_code", "expired": "expired",
    "locked": "locked"}


async def answer_verification(pool: asyncpg.Pool, publisher: Publisher, settings: Settings, *,
                              verification_id: int, conversation_id: int, claimant: str,
                              code: str) -> dict[str, Any]:
    """Judge a code typed in the widget of ``conversation_id`` by ``claimant``. What the
    visitor gets back is the same whether or not the address belonged to a customer."""
    typed = clean_code(code)
    if typed is None:
        raise BadInput("code: the 6 digits from the message", code="bad_code")
    events: list[AnyEvent] = []
    async with unit_of_work(pool, publisher) as uow:
        async with uow.transaction() as conn:
            row = await store.lock_for_answer(conn, verification_id, conversation_id, claimant)
            if row is None:  # another visitor's verification, or none at all
                raise NotFound("no such verification", code="no_verification")
            judged = judge_answer(
                status=row["status"], attempts=row["attempts"], expires_at=row["expires_at"],
                now=datetime.now(UTC),
                expected=derive_code(settings.secret_key, row["id"], row["code_salt"]),
                typed=typed)
            linked = None
            link_events: list[AnyEvent] = []
            if judged.outcome == "verified":
                linked, link_events = await _link_verified(conn, row)
            if (judged.status, judged.attempts) != (row["status"], row["attempts"]):
                await store.record_answer(conn, row["id"], judged.status, judged.attempts,
                                          linked)
            if judged.outcome in ("verified", "locked") and judged.status != row["status"]:
                await store.audit(conn, None, f"identity.verification.{judged.outcome}",
                                  f"contact:{row['contact_id']}", json.dumps({
                                      "verification_id": row["id"],
                                      "claim": f"{row['kind']}:{row['value']}",
                                      "linked_contact_id": linked,
                                      "attempts": judged.attempts}))
            status = _EVENT_OF.get(judged.outcome)
            if status is not None:
                events.insert(0, verification_event(row, status, attempts=judged.attempts))
            events.extend(link_events)
            await uow.emit(events)
    return {"type": "verify_result", "verification_id": verification_id,
            "outcome": judged.outcome, "attempts_left": judged.attempts_left,
            "text": VISITOR_TEXT[judged.outcome]}


async def _link_verified(conn: asyncpg.Connection, row: asyncpg.Record
                         ) -> tuple[int, list[AnyEvent]]:
    """Make the verified value an identity of the customer it belongs to: the contact that
    owns it (or, by rule 3, whose CRM column holds it) absorbs the visitor's contact,
    through the merge code; nobody's → it becomes the visitor's own identity."""
    kind, value = row["kind"], row["value"]
    visitor = await live_contact_id(conn, row["contact_id"])
    owner = await store.identity_owner(conn, kind, value)
    if owner is None:
        owner = await store.crm_owner(conn, kind, value, visitor)
        owner = await store.attach_identity(conn, kind, value, owner or visitor)
    events: list[AnyEvent] = []
    if owner != visitor:
        actor = await store.acting_agent(conn, row["created_by"])
        _, events = await merge_in_transaction(
            conn, actor, owner, visitor,
            proof={"verification_id": row["id"], "identity": f"{kind}:{value}"})
    await store.settle_claim(conn, owner, kind, value)
    return owner, events
