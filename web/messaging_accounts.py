"""Messaging provider accounts (``channel_accounts``, migration 006), cached in the web
process: every webhook needs them and they change rarely. A lookup that misses reloads
at most once a second, so a newly configured inbox works at once and random addresses
from the internet cannot turn into a query each."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec
from starlette.requests import Request

from channels.meta.inbound import MetaAccount
from hub.messaging.store import accounts as accounts_store

if TYPE_CHECKING:
    import asyncpg


class Template(msgspec.Struct, forbid_unknown_fields=True):
    """An approved WhatsApp template: ``body`` with ``{{1}}``.. placeholders."""

    name: str
    language: str
    body: str


@dataclass(frozen=True, slots=True)
class ChannelAccount:
    inbox: str
    channel: str
    provider: str
    external_id: str
    account_sid: str
    auth_token: str
    access_token: str
    app_secret: str
    verify_token: str
    secret_token: str
    templates: tuple[Template, ...]


def account_from(r: asyncpg.Record) -> ChannelAccount:
    templates = msgspec.json.decode(r["templates"], type=tuple[Template, ...])
    return ChannelAccount(r["inbox"], r["channel"], r["provider"], r["external_id"],
                          r["account_sid"], r["auth_token"], r["access_token"],
                          r["app_secret"], r["verify_token"], r["secret_token"], templates)


async def load_account(conn: asyncpg.Connection | asyncpg.Pool,
                       inbox: str) -> ChannelAccount | None:
    r = await accounts_store.account_row(conn, inbox)
    return account_from(r) if r else None


class AccountDirectory:
    def __init__(self, pool: asyncpg.Pool, ttl_s: float = 5.0) -> None:
        self._pool = pool
        self._ttl = ttl_s
        self._loaded_at = -1e9
        self._lock = asyncio.Lock()
        self._by_inbox: dict[str, ChannelAccount] = {}
        self._by_external: dict[tuple[str, str], ChannelAccount] = {}

    async def _load(self, *, force: bool) -> None:
        async with self._lock:
            age = time.monotonic() - self._loaded_at
            if age < (1.0 if force else self._ttl):
                return
            rows = await accounts_store.account_rows(self._pool)
            accounts = [account_from(r) for r in rows]
            self._by_inbox = {a.inbox: a for a in accounts}
            self._by_external = {(a.provider, a.external_id): a for a in accounts}
            self._loaded_at = time.monotonic()

    async def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at >= self._ttl:
            await self._load(force=False)

    async def by_inbox(self, inbox: str) -> ChannelAccount | None:
        await self._fresh()
        if inbox not in self._by_inbox:
            await self._load(force=True)
        return self._by_inbox.get(inbox)

    async def by_external(self, provider: str, external_id: str) -> ChannelAccount | None:
        await self._fresh()
        if (provider, external_id) not in self._by_external:
            await self._load(force=True)
        return self._by_external.get((provider, external_id))

    async def meta(self) -> dict[str, MetaAccount]:
        await self._fresh()
        return {a.external_id: MetaAccount(a.inbox, a.channel, a.external_id, a.app_secret)
                for a in self._by_inbox.values() if a.provider == "meta"}

    async def meta_secrets(self) -> list[str]:
        await self._fresh()
        return sorted({a.app_secret for a in self._by_inbox.values()
                       if a.provider == "meta" and a.app_secret})

    async def meta_verify_tokens(self) -> list[str]:
        await self._fresh()
        return sorted({a.verify_token for a in self._by_inbox.values()
                       if a.provider == "meta" and a.verify_token})


def directory(request: Request) -> AccountDirectory:
    """The app's directory, created on first use (owned by the app, closed with its pool)."""
    app_state = request.app.state
    found: AccountDirectory | None = getattr(app_state, "messaging_accounts", None)
    if found is None:
        found = AccountDirectory(request.app.state.hub.pool)
        app_state.messaging_accounts = found
    return found
