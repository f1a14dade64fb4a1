"""The queue board's labels (web/routes_routing.py): which conversation, inbox, contact
and subject a work item stands for. Routing's other Postgres gateways are
``persist`` (the journal) and ``configstore`` (configs)."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg

Conn: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def work_item_labels(conn: Conn, item_ids: list[int]) -> list[asyncpg.Record]:
    """(work item id, conversation id, inbox, contact name, subject) per work item."""
    return list(await conn.fetch(
        "SELECT wi.id, wi.conversation_id, c.inbox, ct.name, c.subject FROM work_items wi"
        " JOIN conversations c ON c.id = wi.conversation_id"
        " JOIN contacts ct ON ct.id = c.contact_id WHERE wi.id = ANY($1::bigint[])",
        item_ids))
