"""Starlette app factory. The lifespan owns every resource and background task."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute

from hub.config import Settings
from hub.email.store.recipients import publish_mail_recipients
from hub.errors import ConfigError, HubError
from hub.outbox import Publisher
from web.http import http_error_handler, hub_error_handler, unexpected_error_handler
from web.ingest import IngestWriter
from web.input_guard import InputGuard
from web.realtime.access import AgentAccess
from web.realtime.endpoints import agent_socket, widget_socket
from web.realtime.fanout import Fanout
from web.realtime.transport import TransportCapture
from web.routes_admin import routes as admin_routes
from web.routes_api import routes as api_routes
from web.routes_board import routes as board_routes
from web.routes_bots import routes as bot_routes
from web.routes_callbacks import routes as callback_routes
from web.routes_contacts import routes as contact_routes
from web.routes_cti import routes as cti_routes
from web.routes_devmail import routes as devmail_routes
from web.routes_email import routes as email_routes
from web.routes_media import close_media
from web.routes_messaging import routes as messaging_routes
from web.routes_pages import routes as page_routes
from web.routes_prechat import routes as prechat_routes
from web.routes_routing import routes as routing_routes
from web.routes_sla import routes as sla_routes
from web.routes_uploads import routes as upload_routes
from web.routes_voice import routes as voice_routes
from web.routes_voice_admin import routes as voice_admin_routes
from web.routes_webhooks import routes as webhook_routes
from web.state import HubState

log = logging.getLogger("omnihub.web")


def create_app(settings: Settings) -> Starlette:
    if not settings.database_url or not settings.redis_url:
        raise ConfigError("DATABASE_URL and REDIS_URL are required")
    if len(settings.secret_key) < 16:
        raise ConfigError("OMNIHUB_SECRET_KEY (16+ characters) is required")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(settings.database_url, min_size=2, max_size=10)
        redis = aioredis.from_url(settings.redis_url, decode_responses=False)
        ingest = IngestWriter(redis, settings.ingest_stream)
        fanout = Fanout(redis, settings.events_stream)
        app.state.hub = HubState(settings=settings, pool=pool, redis=redis,
                                 publisher=Publisher(redis, settings), ingest=ingest,
                                 fanout=fanout)
        try:  # for omnihub mail, which never reads Postgres
            await publish_mail_recipients(pool, redis, settings)
        except (OSError, asyncpg.PostgresError, aioredis.RedisError) as exc:
            log.warning("could not publish the email inboxes' addresses: %s", exc)
        access = app.state.hub.access = AgentAccess(pool, redis, settings, fanout)
        ingest.start()
        fanout.start()
        await access.start()
        await fanout.ready.wait()
        try:
            yield
        finally:
            await access.stop()
            await fanout.stop()
            await close_media(app)
            await ingest.stop()
            await redis.aclose()
            await pool.close()

    routes = [
        *page_routes,
        *api_routes,
        *contact_routes,
        *bot_routes,
        *routing_routes,
        *board_routes,
        *email_routes,
        *cti_routes,
        *callback_routes,
        *voice_routes,
        *voice_admin_routes,
        *admin_routes,
        *upload_routes,
        *(devmail_routes if settings.dev_mailbox_dir else []),  # make dev only
        *webhook_routes,
        *messaging_routes,
        *prechat_routes,
        *sla_routes,
        WebSocketRoute("/ws/agent", agent_socket),
        WebSocketRoute("/ws/widget", widget_socket),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        # Outermost: sockets need the transport to drop a peer that stopped reading.
        middleware=[Middleware(TransportCapture), Middleware(InputGuard)],
        exception_handlers={HubError: hub_error_handler, HTTPException: http_error_handler,
                            Exception: unexpected_error_handler},
    )
