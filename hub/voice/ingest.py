"""The voice channel's ingest step (registered in hub/ingest_steps.py): call events and
callback requests are stored apart, through the call state machine
(hub/voice/store/calls.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from hub.conversations.steps import Item
from hub.conversations.store.ingest_rows import BatchResult, InboxFacts
from hub.schema import Envelope
from hub.voice.store.calls import is_voice_item, persist_voice_batch

if TYPE_CHECKING:
    import asyncpg


class VoiceStep:
    def takes(self, env: Envelope) -> bool:
        return is_voice_item(env)

    async def store(self, conn: asyncpg.Connection, items: Sequence[Item],
                    inboxes: Mapping[str, InboxFacts], result: BatchResult) -> None:
        await persist_voice_batch(conn, items, inboxes, result)
