"""The verification-code sender's write (workers/verification.py): a send that will be
retried goes back to ``queued``."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def requeue_verification(conn: Conn, verification_id: int, error: str) -> None:
    """A code send that will be retried goes back to queued with the last error."""
    await conn.execute(
        "UPDATE identity_verifications SET delivery = 'queued', delivery_error = $2"
        " WHERE id = $1 AND delivery = 'sending'", verification_id, error)
