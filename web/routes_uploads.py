"""``POST /api/v1/conversations/{id}/uploads?filename=…``: an agent uploads one file (the
raw body, its type in Content-Type) to attach to a reply. Stored as a content-addressed
blob (the mail blob store, fsynced) plus an ``uploads`` row; the reply claims it
(``hub/messaging/store/uploads.py``). Size is checked while reading: over the limit is a
413 and nothing is kept."""

from __future__ import annotations

import asyncio
import unicodedata
import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from channels.email.ingest_sink import FileBlobStore
from hub.conversations.store.queries import get_conversation
from hub.errors import BadInput
from hub.messaging.store import attachments as attachments_store
from hub.schema import Agent
from web.download_headers import safe_content_type
from web.http import JSON, read_body
from web.routing_kit import agent_route, pk
from web.state import HubState


def clean_filename(raw: str) -> str:
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".")
    if not name:
        raise BadInput("filename: required (the query parameter)")
    return name[:200]


@agent_route("conversation.upload", write=True)
async def upload(request: Request, state: HubState, agent: Agent) -> Response:
    conv = await get_conversation(state.pool, agent, pk(request, "conversation_id"))
    filename = clean_filename(request.query_params.get("filename", ""))
    ctype = safe_content_type(request.headers.get("content-type", ""))
    data = await read_body(request, state.settings.upload_max_bytes)
    if not data:
        raise BadInput("the file is empty")
    ref = await asyncio.to_thread(FileBlobStore(state.settings.mail_blob_dir).put, data)
    upload_id = uuid.uuid4()
    await attachments_store.insert_upload(state.pool, upload_id, agent.id, conv.id, ref,
                                          filename, ctype, len(data))
    return JSON({"upload": {"id": str(upload_id), "filename": filename, "content_type": ctype,
                            "size": len(data)}}, status_code=201)


routes = [
    Route("/api/v1/conversations/{conversation_id:pk}/uploads", upload, methods=["POST"]),
]
