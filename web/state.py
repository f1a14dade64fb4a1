"""Everything the web process owns, created and closed by the app lifespan."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from hub.admin.store import inboxes as inboxes_store
from hub.config import Settings
from hub.errors import Forbidden, NotFound
from hub.outbox import Publisher
from web.ingest import IngestWriter
from web.realtime.access import AgentAccess
from web.realtime.fanout import Fanout

if TYPE_CHECKING:
    import asyncpg


@dataclass(slots=True, frozen=True)
class InboxInfo:
    slug: str
    name: str
    channel: str
    greeting: str
    allowed_origins: tuple[str, ...]
    api_token_hash: str | None
    identity_secret: str | None

    def allows_origin(self, origin: str | None) -> bool:
        return "*" in self.allowed_origins or (
            origin is not None and origin.rstrip("/") in self.allowed_origins)


@dataclass(slots=True)
class HubState:
    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    publisher: Publisher
    ingest: IngestWriter
    fanout: Fanout
    access: AgentAccess | None = None  # open agent sockets follow access changes
    _inboxes: dict[str, tuple[float, InboxInfo]] = field(default_factory=dict)

    def check_widget_origin(self, inbox: InboxInfo, origin: str | None) -> None:
        """The widget runs on the inbox's allowed origins and on this hub's own pages.
        The refusal says what to fix: the widget shows it (docs/frontend.md)."""
        if inbox.allows_origin(origin):
            return
        if origin is not None and origin.rstrip("/") in self.settings.allowed_agent_origins:
            return
        site = (origin or "this site")[:60]
        raise Forbidden(f"{site} is not an allowed origin of inbox {inbox.slug}"
                        " (an admin can add it in Settings)")

    async def inbox(self, slug: str) -> InboxInfo:
        """Inbox config, cached for a few seconds (it changes rarely)."""
        hit = self._inboxes.get(slug)
        now = time.monotonic()
        if hit and now - hit[0] < 10.0:
            return hit[1]
        r = await inboxes_store.inbox_row(self.pool, slug[:64])
        if r is None:
            raise NotFound("no such inbox")
        info = InboxInfo(r["slug"], r["name"], r["channel"], r["greeting"],
                         tuple(o.rstrip("/") for o in r["allowed_origins"]),
                         r["api_token_hash"], r["identity_secret"])
        self._inboxes[slug] = (now, info)
        return info
