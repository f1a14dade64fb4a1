"""Email cases in the pipeline: the database side of ``hub.email.rules``.

Per batch, in the pipeline's transaction, with a fixed number of round trips:

- **threading**: the tokens, References/In-Reply-To (``email_message_ids``) and
  same-sender subjects of the whole batch are read in two queries, then the pure matcher
  decides each mail in order (a mail replying to an earlier mail of the same batch
  threads too);
- **cases**: an unthreaded mail opens a new conversation whose find-or-create key is
  ``(inbox, thread_key = its provider id)`` (unique index, migration 003), with a queued
  work item in the inbox's default queue; a threaded mail continues its case and reopens
  it when resolved or pending;
- **Message-IDs** of stored mail go to ``email_message_ids`` ('in'), so later replies
  thread against them;
- **acknowledgements**: a new case gets an ``email_acks`` row, 'pending' when the
  adapter's pure verdict (``email.ack_suppressed`` = "") allows one, else 'suppressed'
  with the reason; the pipeline enqueues the job after commit;
- **bounces** never open a case: they mark our outbound message failed (with a
  ``message.status`` event) or, unmatched, leave an audit row.

Forged tokens and references to someone else's conversation are refused by the matcher
and written to ``audit_log`` ('email.thread.untrusted').
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from hub.contacts.rules.identity import identity_key
from hub.conversations.store.ingest_rows import (
    CONV_COLS,
    BatchResult,
    InboxFacts,
    conversation_from_row,
    create_work_items,
)
from hub.email.jobs import SEND_EMAIL_ACK, email_ack_key
from hub.email.rules import (
    MAX_REFERENCE_LOOKUPS,
    ConversationRef,
    Match,
    match_conversation,
    normalise_subject,
    verify_reply_token,
)
from hub.jobs import PendingJob
from hub.schema import (
    AnyEvent,
    Conversation,
    ConversationStatusChanged,
    Envelope,
    Identity,
    Message,
    MessageStatusChanged,
    WorkItem,
    WorkItemCreated,
)

log = logging.getLogger("omnihub.pipeline.email")

# Envelope attributes written by the email adapter (channels/email/envelope.py).
ATTR_BOUNCE = "email.bounce"
ATTR_BOUNCE_OF = "email.bounce_of"
ATTR_BOUNCE_REASON = "email.bounce_reason"
ATTR_BOUNCE_PERMANENT = "email.bounce_permanent"
ATTR_ACK_SUPPRESSED = "email.ack_suppressed"  # "" = may be acknowledged, else the reason

Item = tuple[int, str, Envelope]  # (batch index, ingest id, envelope)


@dataclass(frozen=True, slots=True)
class EmailOptions:
    """``secrets``: reply-token keys, current first (rotation); none = no token verifies."""

    secrets: tuple[str, ...] = ()
    subject_fallback: bool = True


@dataclass(slots=True)
class EmailThreads:
    conversation_of: dict[int, tuple[int, str]] = field(default_factory=dict)  # index -> (id, inbox)
    opened: dict[int, int] = field(default_factory=dict)  # new conversation id -> batch index
    matches: dict[int, Match] = field(default_factory=dict)  # batch index -> how it threaded


def is_bounce(env: Envelope) -> bool:
    return env.channel == "email" and env.attributes.get(ATTR_BOUNCE) == "true"


def thread_lock_keys(mail: Sequence[Item]) -> list[str]:
    """What two consumers must not decide at the same time: every Message-ID a mail has
    or names (a reply and its parent share one), and its sender's subject (the fallback)."""
    keys: set[str] = set()
    for _, _, env in mail:
        inbox = env.channel_account
        ids = [env.thread.message_id, *reference_ids(env)]
        keys.update(f"mid:{inbox}:{i}" for i in ids if i)
        subject = normalise_subject(env.subject)
        if subject:
            keys.add(f"subj:{inbox}:{identity_key(env.sender)}:{subject}")
    return sorted(keys)


async def lock_threads(conn: asyncpg.Connection, mail: Sequence[Item]) -> None:
    """Transaction-scoped advisory locks on ``thread_lock_keys``, taken in one order by
    every consumer (so they cannot deadlock each other), before any lookup: a reply
    processed while its parent's batch is still uncommitted waits for that commit, then
    finds the parent's case instead of opening a second one."""
    keys = thread_lock_keys(mail)
    if keys:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT"
            " hashtextextended(k, 3034) AS h FROM unnest($1::text[]) k ORDER BY h) s", keys)


def reference_ids(env: Envelope) -> list[str]:
    """In-Reply-To first, then References newest first (the matcher's order)."""
    hints = env.thread
    ids = ([hints.in_reply_to] if hints.in_reply_to else []) + list(reversed(hints.references))
    return list(dict.fromkeys(ids))[:MAX_REFERENCE_LOOKUPS]


class _Known:
    """What the batch knows about conversations: read once, then grown as the batch's own
    mails open cases (negative placeholder ids until inserted)."""

    def __init__(self) -> None:
        self.convs: dict[int, ConversationRef] = {}
        self.inbox_of: dict[int, str] = {}
        self.status: dict[int, str] = {}
        self.refs: dict[tuple[str, str], int] = {}  # (inbox, Message-ID) -> conversation
        self.live_by_subject: dict[tuple[int, str, str], list[int]] = {}

    def add(self, cid: int, inbox: str, contact_id: int, keys: frozenset[str], status: str,
            last_message_at: datetime | None, subject_key: str) -> None:
        self.convs[cid] = ConversationRef(cid, keys, last_message_at)
        self.inbox_of[cid] = inbox
        self.status[cid] = status
        if subject_key and status != "resolved":
            self.live_by_subject.setdefault((contact_id, inbox, subject_key), []).append(cid)


class _View:
    """``hub.email.rules.ThreadLookup`` for one mail: its inbox and its sender's contact."""

    def __init__(self, known: _Known, inbox: str, contact_id: int) -> None:
        self.known, self.inbox, self.contact_id = known, inbox, contact_id

    def conversation(self, conversation_id: int) -> ConversationRef | None:
        return self.known.convs.get(conversation_id)

    def by_message_ids(self, message_ids: Sequence[str]) -> dict[str, ConversationRef]:
        out = {}
        for mid in message_ids:
            cid = self.known.refs.get((self.inbox, mid))
            if cid is not None and cid in self.known.convs:
                out[mid] = self.known.convs[cid]
        return out

    def by_subject(self, sender: Identity, subject: str) -> Sequence[ConversationRef]:
        ids = self.known.live_by_subject.get((self.contact_id, self.inbox, subject), ())
        return [self.known.convs[c] for c in ids]


_CONV_FACTS = (
    "SELECT c.id, c.inbox, c.contact_id, c.status, c.last_message_at, c.subject_key,"
    " ARRAY(SELECT i.kind || ':' || i.value FROM identities i"
    "       WHERE i.contact_id = c.contact_id) AS keys FROM conversations c"
)


async def _read_known(conn: asyncpg.Connection, mail: Sequence[Item],
                      contacts: Mapping[str, tuple[int, str]], options: EmailOptions) -> _Known:
    """Two queries for the whole batch: referenced Message-IDs, then the conversations
    (by token, by reference, live ones with the same sender and subject)."""
    known = _Known()
    ids: set[int] = set()
    ref_keys: set[tuple[str, str]] = set()
    subjects: set[tuple[int, str, str]] = set()
    for _, _, env in mail:
        if env.thread.reply_token and options.secrets:
            cid = verify_reply_token(env.thread.reply_token, options.secrets)
            if cid is not None:
                ids.add(cid)
        ref_keys.update((env.channel_account, mid) for mid in reference_ids(env))
        key = normalise_subject(env.subject) if options.subject_fallback else ""
        if key:
            subjects.add((contacts[identity_key(env.sender)][0], env.channel_account, key))
    if ref_keys:
        refs = sorted(ref_keys)
        for r in await conn.fetch(
            "SELECT e.inbox, e.message_id, e.conversation_id FROM email_message_ids e"
            " JOIN unnest($1::text[], $2::text[]) AS k(inbox, mid)"
            "   ON e.inbox = k.inbox AND e.message_id = k.mid",
            [k[0] for k in refs], [k[1] for k in refs],
        ):
            known.refs[(r[0], r[1])] = r[2]
            ids.add(r[2])
    if ids or subjects:
        subj = sorted(subjects)
        rows = await conn.fetch(
            f"{_CONV_FACTS} WHERE c.channel = 'email' AND c.id = ANY($1::bigint[])"
            f" UNION {_CONV_FACTS}"
            " JOIN unnest($2::bigint[], $3::text[], $4::text[]) AS k(cid, inbox, skey)"
            "   ON c.contact_id = k.cid AND c.inbox = k.inbox AND c.subject_key = k.skey"
            " WHERE c.channel = 'email' AND c.status <> 'resolved'",
            sorted(ids), [k[0] for k in subj], [k[1] for k in subj], [k[2] for k in subj],
        )
        for r in rows:
            known.add(r["id"], r["inbox"], r["contact_id"], frozenset(r["keys"]), r["status"],
                      r["last_message_at"], r["subject_key"])
    return known


async def thread_emails(
    conn: asyncpg.Connection, mail: Sequence[Item], contacts: Mapping[str, tuple[int, str]],
    inboxes: Mapping[str, InboxFacts], result: BatchResult, options: EmailOptions,
) -> EmailThreads:
    """Decide each mail's conversation: continue (and reopen) a threaded case, or open a
    new one. Appends the events to ``result.events``."""
    known = await _read_known(conn, mail, contacts, options)
    threads = EmailThreads()
    assigned: dict[int, int] = {}  # batch index -> conversation id (< 0: a new case)
    new_cases: dict[int, Item] = {}  # placeholder -> the mail that opens it
    audits: list[tuple[str, str, str]] = []
    for item in mail:
        index, _, env = item
        contact_id = contacts[identity_key(env.sender)][0]
        inbox = env.channel_account
        m = match_conversation(env.thread, env.sender, _View(known, inbox, contact_id),
                               secret=options.secrets, subject=env.subject,
                               subject_fallback=options.subject_fallback)
        threads.matches[index] = m
        if m.forged_token or m.untrusted:
            audits.append(("email.thread.untrusted", f"email:{inbox}:{env.provider_id}",
                           json.dumps({"sender": identity_key(env.sender),
                                       "forged_token": m.forged_token,
                                       "refused_conversations": list(m.untrusted)})))
            log.warning("email %s from %s: refused thread hints (forged token %s, foreign"
                        " conversations %s)", env.provider_id, identity_key(env.sender),
                        m.forged_token, list(m.untrusted))
        cid = m.conversation_id
        if cid is None:
            cid = -(len(new_cases) + 1)
            new_cases[cid] = item
            known.add(cid, inbox, contact_id, frozenset({identity_key(env.sender)}), "open",
                      env.received_at, normalise_subject(env.subject))
        assigned[index] = cid
        if env.thread.message_id:  # later mails of this batch may reply to this one
            known.refs.setdefault((inbox, env.thread.message_id), cid)

    real = await _open_cases(conn, new_cases, contacts, inboxes, result.events, threads)
    for placeholder, cid in real.items():
        known.inbox_of[cid] = known.inbox_of[placeholder]
    for index, cid in assigned.items():
        cid = real.get(cid, cid)
        threads.conversation_of[index] = (cid, known.inbox_of[cid])
    continued = sorted({cid for cid in assigned.values() if cid > 0})
    if continued:
        await _reopen(conn, continued, result.events)
    if audits:
        await _audit(conn, audits)
    return threads


async def _open_cases(
    conn: asyncpg.Connection, new_cases: Mapping[int, Item],
    contacts: Mapping[str, tuple[int, str]], inboxes: Mapping[str, InboxFacts],
    events: list[AnyEvent], threads: EmailThreads,
) -> dict[int, int]:
    """Insert the new cases (find-or-create on (inbox, thread_key)); placeholder -> id."""
    if not new_cases:
        return {}
    # Sorted by the unique key: concurrent consumers lock in the same order.
    order = sorted(new_cases, key=lambda p: (new_cases[p][2].channel_account,
                                             new_cases[p][2].provider_id))
    envs = [new_cases[p][2] for p in order]
    created = await conn.fetch(
        "INSERT INTO conversations (contact_id, inbox, channel, contact_identity, subject,"
        " thread_key, subject_key)"
        " SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],"
        " $6::text[], $7::text[])"
        " ON CONFLICT (inbox, thread_key) WHERE thread_key IS NOT NULL DO NOTHING"
        f" RETURNING {CONV_COLS}, thread_key",
        [contacts[identity_key(e.sender)][0] for e in envs], [e.channel_account for e in envs],
        [e.channel for e in envs], [identity_key(e.sender) for e in envs],
        [e.subject[:1000] for e in envs], [e.provider_id for e in envs],
        [normalise_subject(e.subject)[:1000] for e in envs],
    )
    by_key = {(r["inbox"], r["thread_key"]): r for r in created}
    lost = [e for e in envs if (e.channel_account, e.provider_id) not in by_key]
    found: dict[tuple[str, str], int] = {}
    if lost:  # another consumer opened it first (a redelivery racing us): use theirs
        for r in await conn.fetch(
            "SELECT c.id, c.inbox, c.thread_key FROM conversations c"
            " JOIN unnest($1::text[], $2::text[]) AS k(inbox, tk)"
            "   ON c.inbox = k.inbox AND c.thread_key = k.tk",
            [e.channel_account for e in lost], [e.provider_id for e in lost],
        ):
            found[(r["inbox"], r["thread_key"])] = r["id"]
    real: dict[int, int] = {}
    new_convs: list[Conversation] = []
    for p in order:
        index, _, env = new_cases[p]
        key = (env.channel_account, env.provider_id)
        if key in by_key:
            conv = conversation_from_row(by_key[key], contacts[identity_key(env.sender)][1])
            new_convs.append(conv)
            real[p] = conv.id
            threads.opened[conv.id] = index
        else:
            real[p] = found[key]
    await create_work_items(conn, new_convs, inboxes, events)
    return real


async def _reopen(conn: asyncpg.Connection, conversation_ids: list[int],
                  events: list[AnyEvent]) -> None:
    """A customer reply reopens its case (resolved or pending -> open, as Zammad does);
    a resolved case gets a new work item so it is routed again."""
    rows = await conn.fetch(
        "WITH old AS (SELECT id, status FROM conversations WHERE id = ANY($1::bigint[])"
        "   AND status <> 'open' ORDER BY id FOR UPDATE)"
        " UPDATE conversations c SET status = 'open' FROM old WHERE c.id = old.id"
        " RETURNING c.id, c.inbox, c.channel, c.assignee_id, old.status AS was",
        conversation_ids,
    )
    for r in rows:
        events.append(ConversationStatusChanged(inbox=r["inbox"], conversation_id=r["id"],
                                                status="open"))
    resolved = [r for r in rows if r["was"] == "resolved"]
    if not resolved:
        return
    items = await conn.fetch(
        "INSERT INTO work_items (conversation_id, queue, channel, status, agent_id)"
        " SELECT k.cid, i.default_queue, k.channel,"
        "   CASE WHEN k.agent IS NULL THEN 'queued' ELSE 'assigned' END, k.agent"
        " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[])"
        "   AS k(cid, inbox, channel, agent) JOIN inboxes i ON i.slug = k.inbox"
        " ON CONFLICT (conversation_id) WHERE status NOT IN ('completed', 'cancelled')"
        " DO NOTHING"
        " RETURNING id, conversation_id, queue, channel, status, priority, agent_id, created_at",
        [r["id"] for r in resolved], [r["inbox"] for r in resolved],
        [r["channel"] for r in resolved], [r["assignee_id"] for r in resolved],
    )
    inbox_of = {r["id"]: r["inbox"] for r in resolved}
    for r in items:
        events.append(WorkItemCreated(inbox=inbox_of[r["conversation_id"]],
                                      work_item=WorkItem(**dict(r))))


async def _audit(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, str]]) -> None:
    """Audit rows (action, subject, details JSON), at most one per (action, subject):
    a redelivered mail does not repeat them."""
    await conn.execute(
        "INSERT INTO audit_log (action, subject, details)"
        " SELECT k.action, k.subject, k.details::jsonb"
        " FROM unnest($1::text[], $2::text[], $3::text[]) AS k(action, subject, details)"
        " WHERE NOT EXISTS (SELECT 1 FROM audit_log a"
        "   WHERE a.action = k.action AND a.subject = k.subject)",
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
    )


async def record_email_messages(
    conn: asyncpg.Connection, messages: Sequence[Message], mail: Sequence[Item],
    threads: EmailThreads, result: BatchResult,
) -> None:
    """After the messages are inserted: their Message-IDs, and the acknowledgement row of
    every case opened here (pending jobs go to ``result.jobs``)."""
    index_of = {(threads.conversation_of[i][0], e.provider_id): i for i, _, e in mail}
    env_of = {i: e for i, _, e in mail}
    stored = {index_of[(m.conversation_id, m.provider_id)]: m for m in messages
              if (m.conversation_id, m.provider_id) in index_of}
    ids = [(env_of[i], m) for i, m in stored.items() if env_of[i].thread.message_id]
    if ids:
        await conn.execute(
            "INSERT INTO email_message_ids (inbox, message_id, conversation_id, message_row,"
            " direction)"
            " SELECT k.inbox, k.mid, k.cid, k.mrow, 'in'"
            " FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])"
            "   AS k(inbox, mid, cid, mrow)"
            " ON CONFLICT (inbox, message_id) DO NOTHING",
            [e.channel_account for e, _ in ids], [e.thread.message_id for e, _ in ids],
            [m.conversation_id for _, m in ids], [m.id for _, m in ids],
        )
    acks = []
    for cid, index in sorted(threads.opened.items()):
        if index not in stored:
            continue
        env = env_of[index]
        reason = env.attributes.get(ATTR_ACK_SUPPRESSED, "no-adapter-verdict")
        if env.sender.kind != "email":
            reason = reason or "no-sender"
        acks.append((cid, env.channel_account,
                     env.sender.value if env.sender.kind == "email" else "",
                     env.thread.message_id or "", "suppressed" if reason else "pending",
                     reason[:200]))
    if not acks:
        return
    rows = await conn.fetch(
        "INSERT INTO email_acks (conversation_id, inbox, to_address, locale,"
        " parent_message_id, status, reason)"
        " SELECT k.cid, k.inbox, k.addr, ct.locale, k.parent, k.status, k.reason"
        " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],"
        "   $6::text[]) AS k(cid, inbox, addr, parent, status, reason)"
        " JOIN conversations c ON c.id = k.cid JOIN contacts ct ON ct.id = c.contact_id"
        " ON CONFLICT (conversation_id) DO NOTHING RETURNING conversation_id, status",
        *[list(col) for col in zip(*acks, strict=True)],
    )
    result.jobs.extend(PendingJob(SEND_EMAIL_ACK, (cid,), email_ack_key(cid))
                       for cid in sorted(r[0] for r in rows if r[1] == "pending"))


async def apply_bounces(conn: asyncpg.Connection, bounces: Sequence[Item],
                        result: BatchResult) -> None:
    """Mark the bounced outbound messages failed (message.status event); audit every
    bounce, matched or not, once."""
    # Our Message-IDs are unique (uuid@our-domain), and a bounce may reach another mailbox
    # than the one that sent (MAIL FROM routing): look in every email inbox, by its key.
    wanted = sorted({e.attributes[ATTR_BOUNCE_OF] for _, _, e in bounces
                     if e.attributes.get(ATTR_BOUNCE_OF)})
    out: dict[str, asyncpg.Record] = {}
    if wanted:
        for r in await conn.fetch(
            "SELECT e.message_id, e.message_row FROM inboxes i"
            " JOIN email_message_ids e ON e.inbox = i.slug AND e.message_id = ANY($1::text[])"
            " WHERE i.channel = 'email' AND e.direction = 'out' AND e.message_row IS NOT NULL",
            wanted,
        ):
            out.setdefault(r["message_id"], r)
    failed: dict[int, str] = {}
    audits = []
    for _, _, env in bounces:
        of = env.attributes.get(ATTR_BOUNCE_OF, "")
        reason = env.attributes.get(ATTR_BOUNCE_REASON, "") or "bounced"
        permanent = env.attributes.get(ATTR_BOUNCE_PERMANENT, "true") != "false"
        hit = out.get(of) if of else None
        action = ("email.bounce.unmatched" if hit is None
                  else "email.bounce" if permanent else "email.bounce.delayed")
        if hit is not None and permanent:
            failed.setdefault(hit["message_row"], f"bounced: {reason}"[:500])
        if hit is None:
            log.warning("unmatched bounce %s in %s (about %r): recorded in audit_log",
                        env.provider_id, env.channel_account, of)
        audits.append((action, f"email:{env.channel_account}:{env.provider_id}", json.dumps({
            "bounce_of": of, "message_row": hit["message_row"] if hit else None,
            "reason": reason, "permanent": permanent, "sender": identity_key(env.sender),
            "raw_ref": env.raw_ref, "subject": env.subject[:300]})))
    if failed:
        rows = await conn.fetch(
            "UPDATE messages m SET status = 'failed', status_error = k.err, status_at = now()"
            " FROM unnest($1::bigint[], $2::text[]) AS k(id, err), conversations c"
            " WHERE m.id = k.id AND m.status <> 'failed' AND c.id = m.conversation_id"
            " RETURNING m.id, m.conversation_id, m.status_error, c.inbox",
            list(failed), list(failed.values()),
        )
        result.events.extend(MessageStatusChanged(
            inbox=r["inbox"], conversation_id=r["conversation_id"], message_id=r["id"],
            status="failed", error=r["status_error"]) for r in rows)
    await _audit(conn, audits)
