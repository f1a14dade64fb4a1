"""What a channel plugs into the delivery job: a sender with three parts.

``prepare`` runs inside the transaction that claims the message (queued → sending), so
whatever must exist before anything leaves (an email's Message-ID row) commits with the
claim or not at all. ``send`` makes one attempt after commit. ``retry_delay`` is the
channel's backoff: seconds before the next try, or None to give up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from hub.config import Settings

if TYPE_CHECKING:
    import asyncpg


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """The claimed message, as the job read it."""

    id: int
    conversation_id: int
    inbox: str
    channel: str
    text: str
    html: str
    provider_id: str
    author_name: str
    created_at: datetime
    contact_identity: str


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    error: str = ""
    retryable: bool = False
    # The provider's Retry-After (429): the next try waits at least this long.
    retry_after_s: float | None = None


class Undeliverable(Exception):
    """Raised by ``prepare``: this message cannot be sent at all (the reason is shown)."""


class ChannelSender(Protocol):
    async def prepare(self, conn: asyncpg.Connection, msg: OutboundMessage,
                      settings: Settings) -> Any: ...

    async def send(self, ctx: dict[str, Any], msg: OutboundMessage, prepared: Any) -> Attempt: ...

    def retry_delay(self, settings: Settings, tries: int) -> float | None: ...
