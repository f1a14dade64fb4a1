"""What a failed Postgres round trip raises, for callers outside the stores that retry or
log it (the agent socket's session re-check) without importing asyncpg themselves."""

from __future__ import annotations

import asyncpg

DB_ERRORS: tuple[type[Exception], ...] = (asyncpg.PostgresError, asyncpg.InterfaceError)
