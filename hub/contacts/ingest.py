"""The pre-chat ingest step (registered in hub/ingest_steps.py): a widget visitor's
answers, stored with their first message (hub/contacts/store/prechat.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from hub.contacts.store.prechat import record_submissions
from hub.schema import Envelope, Message

if TYPE_CHECKING:
    import asyncpg


class PrechatStep:
    async def after_messages(self, conn: asyncpg.Connection, messages: Sequence[Message],
                             envs: Sequence[Envelope], inbox_of: Mapping[int, str]) -> None:
        if any(e.prechat is not None for e in envs):
            await record_submissions(conn, messages, envs, inbox_of)
