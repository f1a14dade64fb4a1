"""Ingest persistence is pluggable (hub/conversations/steps.py, table hub/ingest_steps.py):
a step given to the generic pipeline takes its items apart, threads others itself and
sees every stored message, without the pipeline naming a channel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hub.conversations.steps import IngestSteps, Item
from hub.conversations.store.persist import persist_inbound_batch
from hub.ingest_steps import DEFAULT_STEPS
from hub.jobs import PendingJob
from hub.schema import Envelope, Identity, Message

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def chat(pid: str, text: str, visitor: str = "v1") -> Envelope:
    return Envelope(channel="chat", channel_account="web", provider_id=pid,
                    sender=Identity(kind="visitor", value=visitor), text=text,
                    received_at=NOW)


class TakeMarked:
    """Stores apart every envelope whose text starts with '!' (and asks for a job)."""

    def __init__(self) -> None:
        self.taken: list[str] = []

    def takes(self, env: Envelope) -> bool:
        return env.text.startswith("!")

    async def store(self, conn: Any, items: Sequence[Item], inboxes: Mapping[str, Any],
                    result: Any) -> None:
        self.taken += [e.provider_id for _, _, e in items]
        result.jobs.append(PendingJob("noted", (len(items),), "noted:1"))


class SeeMessages:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def after_messages(self, conn: Any, messages: Sequence[Message],
                             envs: Sequence[Envelope], inbox_of: Mapping[int, str]) -> None:
        self.seen += [m.text for m in messages]


async def test_registered_steps_run_and_the_rest_is_generic(db, seeded):
    apart, after = TakeMarked(), SeeMessages()
    steps = IngestSteps(apart=(apart,), after_messages=(after,))
    async with db.acquire() as conn, conn.transaction():
        result = await persist_inbound_batch(
            conn, [("1-0", chat("a", "hello")), ("1-1", chat("b", "!note"))], steps=steps)
    assert apart.taken == ["b"] and after.seen == ["hello"]
    assert result.stored == 1 and result.jobs == [PendingJob("noted", (1,), "noted:1")]
    texts = [r["text"] for r in await db.fetch("SELECT text FROM messages ORDER BY id")]
    assert texts == ["hello"]


async def test_only_apart_items_end_the_batch_early(db, seeded):
    apart = TakeMarked()
    async with db.acquire() as conn, conn.transaction():
        result = await persist_inbound_batch(conn, [("1-0", chat("c", "!only"))],
                                             steps=IngestSteps(apart=(apart,)))
    assert apart.taken == ["c"] and result.stored == 0
    assert await db.fetchval("SELECT count(*) FROM messages") == 0


def test_the_default_table_registers_the_channel_steps():
    kinds = {type(s).__name__ for s in
             (*DEFAULT_STEPS.apart, *DEFAULT_STEPS.threaders, *DEFAULT_STEPS.after_messages)}
    assert kinds == {"VoiceStep", "BounceStep", "EmailThreadStep", "PrechatStep"}
