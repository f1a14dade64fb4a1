"""One unit of work: a transaction whose events leave only after it committed.

    async with unit_of_work(pool, publisher) as uow, uow.transaction() as conn:
        row = await conn.fetchrow(...)
        await uow.emit([SomethingChanged(...)])

``unit_of_work`` takes a pool connection; ``transaction`` opens the one transaction on it
(entered once; two steps so a call site keeps its body where it was). ``emit`` writes the events to ``event_outbox`` inside the transaction (so they commit or
roll back with the change). On a clean exit the transaction commits, the connection goes
back to the pool, and only then are the events published: publishing takes a pool
connection of its own (to delete the published rows), and holding two per request
deadlocks a busy pool (tests/test_actions_pool.py). If the block raises, the transaction
rolls back and nothing is published. A crash between commit and publish is covered by
the outbox sweeper, which republishes committed rows exactly once.

This is the only place that publishes a state change's events; a test fails if any other
module calls ``publish_committed`` (tests/test_unit_of_work.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from hub.outbox import Publisher, publish_committed, write_outbox
from hub.schema import AnyEvent

OutboxRows = list[tuple[int, bytes, AnyEvent]]


class UnitOfWork:
    """The connection of one transaction and the outbox rows written in it."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self._rows: OutboxRows = []
        self._state = "new"  # new → open → committed

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        if self._state != "new":
            raise RuntimeError("a unit of work has exactly one transaction")
        self._state = "open"
        async with self.conn.transaction():
            yield self.conn
        self._state = "committed"

    async def emit(self, events: Sequence[AnyEvent]) -> None:
        """Write ``events`` to the outbox in this transaction; published after commit."""
        self._check_open()
        self._rows += await write_outbox(self.conn, events)

    def adopt(self, rows: Sequence[tuple[int, bytes, AnyEvent]]) -> None:
        """Publish after commit the rows a helper already wrote with ``write_outbox`` in
        this transaction."""
        self._check_open()
        self._rows += rows

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeError("emit inside the unit of work's transaction")

    @property
    def committed_rows(self) -> OutboxRows:
        return list(self._rows) if self._state == "committed" else []


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool, publisher: Publisher) -> AsyncIterator[UnitOfWork]:
    async with pool.acquire() as conn:
        uow = UnitOfWork(conn)
        yield uow
    # The connection is back in the pool here; see the module docstring. Reached only
    # when the block exited cleanly.
    await publish_committed(pool, publisher, uow.committed_rows)
