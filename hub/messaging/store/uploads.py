"""Agents' uploads, claimed by the reply that carries them (in its transaction): each at
most once, only by its uploader, only in its conversation, within the per-message limits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from hub.errors import BadInput, TooLarge
from hub.schema import AttachmentRef


def parse_upload_ids(raw: Sequence[str], max_files: int) -> list[uuid.UUID]:
    if len(raw) > max_files:
        raise BadInput(f"attachments: at most {max_files} files")
    try:
        ids = [uuid.UUID(str(x)) for x in raw]
    except ValueError:
        raise BadInput("attachments: upload ids as returned by the upload route") from None
    if len(set(ids)) != len(ids):
        raise BadInput("attachments: an upload is listed twice")
    return ids


async def claim_uploads(conn: asyncpg.Connection, *, agent_id: int, conversation_id: int,
                        ids: Sequence[uuid.UUID], message_id: int,
                        max_total_bytes: int) -> list[AttachmentRef]:
    """Attach the uploads to ``message_id``, in the given order; nothing is claimed (the
    caller's transaction rolls back) when one is unknown, foreign or already used."""
    if not ids:
        return []
    rows = await conn.fetch(
        "UPDATE uploads SET message_id = $4 WHERE id = ANY($1::uuid[]) AND agent_id = $2"
        " AND conversation_id = $3 AND message_id IS NULL"
        " RETURNING id, ref, filename, content_type, size", list(ids), agent_id,
        conversation_id, message_id)
    if len(rows) != len(ids):
        raise BadInput("attachments: unknown, already sent, or uploaded by someone else"
                       " for another conversation")
    if sum(r["size"] for r in rows) > max_total_bytes:
        raise TooLarge(f"attachments: at most {max_total_bytes} bytes per message")
    by_id = {r["id"]: r for r in rows}
    return [AttachmentRef(ref=by_id[i]["ref"], filename=by_id[i]["filename"],
                          content_type=by_id[i]["content_type"], size=by_id[i]["size"])
            for i in ids]
