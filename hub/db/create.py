"""Creating the database itself (``omnihub dev`` on embedded Postgres), before any
migration can run."""

from __future__ import annotations

import asyncpg


async def ensure_database(admin_url: str, name: str) -> None:
    """Create database ``name`` through the server's admin database unless it exists."""
    admin = await asyncpg.connect(admin_url)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            # Identifiers cannot be bound parameters; ``name`` is the dev runner's constant.
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
