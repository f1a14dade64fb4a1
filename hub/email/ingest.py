"""The email channel's ingest steps (registered in hub/ingest_steps.py): bounces are
stored apart (they mark our outbound message failed, never a case), and mail is
threaded into cases (hub/email/store/cases.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hub.config import Settings
from hub.conversations.steps import Contacts, Item
from hub.conversations.store.ingest_rows import BatchResult, InboxFacts
from hub.email.store import cases
from hub.email.store.cases import EmailOptions, EmailThreads
from hub.schema import Envelope, Message

# Type-only: the pipeline hands the connection in; SQL stays in the stores.
if TYPE_CHECKING:
    import asyncpg


def email_options(settings: Settings) -> EmailOptions:
    return EmailOptions(
        secrets=(settings.secret_key,) if settings.secret_key else (),
        subject_fallback=settings.email_subject_fallback,
    )


class BounceStep:
    def takes(self, env: Envelope) -> bool:
        return cases.is_bounce(env)

    async def store(self, conn: asyncpg.Connection, items: Sequence[Item],
                    inboxes: Mapping[str, InboxFacts], result: BatchResult) -> None:
        await cases.apply_bounces(conn, items, result)


class EmailThreadStep:
    def __init__(self, options: EmailOptions) -> None:
        self.options = options

    def takes(self, env: Envelope) -> bool:
        return env.channel == "email"

    async def lock(self, conn: asyncpg.Connection, items: Sequence[Item]) -> None:
        await cases.lock_threads(conn, items)

    async def thread(self, conn: asyncpg.Connection, items: Sequence[Item],
                     contacts: Contacts, inboxes: Mapping[str, InboxFacts],
                     result: BatchResult) -> tuple[Mapping[int, tuple[int, str]], Any]:
        threads = await cases.thread_emails(conn, items, contacts, inboxes, result,
                                            self.options)
        return threads.conversation_of, threads

    async def after_messages(self, conn: asyncpg.Connection, messages: Sequence[Message],
                             items: Sequence[Item], state: Any,
                             result: BatchResult) -> None:
        threads: EmailThreads = state
        await cases.record_email_messages(conn, messages, items, threads, result)
