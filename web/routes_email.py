"""Email downloads for agents: the raw ``.eml`` of a message and its attachments, read
from the blob store the mail adapters write (``Settings.mail_blob_dir``).

Addressed by message id and attachment index, never by path or blob ref from the client,
so there is nothing to traverse; the stored ref is validated again by ``FileBlobStore``.
Every download is an attachment (``Content-Disposition``), ``nosniff``, with a CSP
``sandbox``, and types a browser would run (HTML, SVG, XML ...) are sent as
``application/octet-stream``: a customer's file never executes on our origin.

Attachments of messaging channels (provider references, not blobs) are streamed from the
provider by web/routes_media.py after the same checks, at the same URL.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from channels.email.ingest_sink import FileBlobStore
from channels.media import parse_ref
from hub.errors import Forbidden, NotFound
from hub.messaging.store import attachments as attachments_store
from hub.schema import Agent, AttachmentRef
from web.download_headers import content_disposition, safe_content_type
from web.routes_media import proxy_attachment
from web.routing_kit import agent_route, pk
from web.state import HubState


async def _message_blobs(state: HubState, agent: Agent, message_id: int) -> tuple[str, str]:
    r = await attachments_store.message_blobs(state.pool, message_id)
    if r is None:
        raise NotFound("no such message")
    if not agent.may_see_inbox(r["inbox"]):
        raise Forbidden("not a member of this inbox")
    return r["raw_ref"], r["attachments"]


def _blob_response(state: HubState, ref: str, ctype: str, disposition: str) -> Response:
    try:
        path = FileBlobStore(state.settings.mail_blob_dir).path(ref)
    except ValueError:
        raise NotFound("this item has no stored file") from None
    if not path.is_file():
        raise NotFound("the stored file is missing")
    return FileResponse(path, media_type=ctype, headers={
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "private, max-age=300",
    })


@agent_route("attachment.download")
async def raw_message(request: Request, state: HubState, agent: Agent) -> Response:
    message_id = pk(request, "message_id")
    raw_ref, _ = await _message_blobs(state, agent, message_id)
    if not raw_ref:
        raise NotFound("this message has no stored original")
    return _blob_response(state, raw_ref, "message/rfc822",
                          content_disposition(f"message-{message_id}.eml", "message.eml"))


@agent_route("attachment.download")
async def attachment(request: Request, state: HubState, agent: Agent) -> Response:
    message_id = pk(request, "message_id")
    index = request.path_params["index"]
    _, attachments_json = await _message_blobs(state, agent, message_id)
    refs = msgspec.json.decode(attachments_json, type=list[AttachmentRef])
    if not isinstance(index, int) or not 0 <= index < len(refs):
        raise NotFound("no such attachment")
    ref = refs[index]
    if parse_ref(ref.ref) is not None:  # messaging media: streamed from the provider
        return await proxy_attachment(request, state, message_id, index, ref)
    return _blob_response(state, ref.ref, safe_content_type(ref.content_type),
                          content_disposition(ref.filename, f"attachment-{index}"))


routes = [
    Route("/api/v1/messages/{message_id:pk}/raw", raw_message),
    Route("/api/v1/messages/{message_id:pk}/attachments/{index:int}", attachment),
]
