"""How the pipeline tells Postgres's failures apart (hub/conversations/pipeline.py): a
clash with a concurrent batch (retry at once), content Postgres refuses (dead-letter),
the database being unreachable or restarting (back off), and SQL that does not compile
against the schema (a bug). The pipeline itself names no driver class."""

from __future__ import annotations

import asyncpg

# Concurrent batches got in each other's way: the transaction is retried at once.
CONFLICTS: tuple[type[Exception], ...] = (
    asyncpg.DeadlockDetectedError, asyncpg.SerializationError, asyncpg.UniqueViolationError)
# Postgres refused the content itself (bad data, a violated constraint).
REFUSED: tuple[type[Exception], ...] = (
    asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)
# Anything the database or its connection raised.
DATABASE_ERRORS: tuple[type[Exception], ...] = (asyncpg.PostgresError, asyncpg.InterfaceError)


def refused_content(exc: BaseException) -> bool:
    """Postgres refused the entry's content. A unique violation that survived the
    retries is a missing ON CONFLICT (a bug), not the content's fault."""
    return isinstance(exc, REFUSED) and not isinstance(exc, asyncpg.UniqueViolationError)


def sql_bug(exc: BaseException) -> bool:
    """SQL that does not compile against the schema (class 42): a bug in our code."""
    return isinstance(exc, asyncpg.SyntaxOrAccessError)


async def open_pipeline_pool(database_url: str) -> asyncpg.Pool:
    """The pipeline consumer's pool. Custom plans: generic plans cached on a young
    database seq-scan ``messages`` for ever."""
    return await asyncpg.create_pool(database_url, min_size=1, max_size=4,
                                     server_settings={"plan_cache_mode": "force_custom_plan"})
