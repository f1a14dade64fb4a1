"""Channel-specific persistence steps of the ingest pipeline: the protocols.

The generic persistence (``store/persist.py``) knows contacts, open conversations, work
items and message rows. Everything a channel adds is a step, and the table of steps is
``hub/ingest_steps.py`` (as ``workers/registry.py`` is for senders). Steps run inside
the pipeline's transaction, in this order:

1. ``apart`` steps take items that never become messages (a call event, a bounce) and
   store them themselves; the rest go on.
2. ``threaders`` find or open the conversation of their items themselves (instead of
   the one open conversation per contact and inbox); ``lock`` runs before contacts are
   resolved, ``after_messages`` once the messages are stored.
3. ``after_messages`` steps add rows for stored messages (pre-chat answers).

A step that wants a worker job after commit appends a ``hub.jobs.PendingJob`` to
``result.jobs``; the pipeline enqueues it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hub.conversations.store.ingest_rows import BatchResult, InboxFacts
from hub.schema import Envelope, Message

# Type-only: the pipeline hands the connection in; SQL stays in the stores.
if TYPE_CHECKING:
    import asyncpg

Item = tuple[int, str, Envelope]  # (batch index, ingest id, envelope)
Contacts = Mapping[str, tuple[int, str]]  # identity key -> (contact id, contact name)


class ApartStep(Protocol):
    def takes(self, env: Envelope) -> bool: ...

    async def store(self, conn: asyncpg.Connection, items: Sequence[Item],
                    inboxes: Mapping[str, InboxFacts], result: BatchResult) -> None: ...


class ThreadStep(Protocol):
    def takes(self, env: Envelope) -> bool: ...

    async def lock(self, conn: asyncpg.Connection, items: Sequence[Item]) -> None: ...

    async def thread(self, conn: asyncpg.Connection, items: Sequence[Item],
                     contacts: Contacts, inboxes: Mapping[str, InboxFacts],
                     result: BatchResult) -> tuple[Mapping[int, tuple[int, str]], Any]:
        """Returns batch index -> (conversation id, inbox), and a state handed back to
        ``after_messages``."""
        ...

    async def after_messages(self, conn: asyncpg.Connection, messages: Sequence[Message],
                             items: Sequence[Item], state: Any,
                             result: BatchResult) -> None: ...


class MessageStep(Protocol):
    async def after_messages(self, conn: asyncpg.Connection, messages: Sequence[Message],
                             envs: Sequence[Envelope], inbox_of: Mapping[int, str]) -> None: ...


@dataclass(frozen=True, slots=True)
class IngestSteps:
    apart: Sequence[ApartStep] = ()
    threaders: Sequence[ThreadStep] = ()
    after_messages: Sequence[MessageStep] = ()
