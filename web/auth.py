"""Agent sessions: argon2 password check, an opaque session token in an HttpOnly cookie,
only its SHA-256 stored. Who may do what is hub/access.py's."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from starlette.requests import HTTPConnection

from hub.agents import store as agents_store
from hub.errors import Forbidden, Unauthorized
from hub.schema import Agent
from web.passwords import verify_password
from web.realtime.access import announce_access_change
from web.state import HubState

COOKIE = "oh_session"


def session_token_hash(conn: HTTPConnection) -> str:
    """The stored form of the connection's session cookie (for the socket session guard)."""
    return _token_hash(conn.cookies.get(COOKIE, "")[:200])


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def log_in(state: HubState, email: str, password: str) -> str:
    """Return a new session token, or raise Unauthorized."""
    row = await agents_store.login_row(state.pool, email.strip().lower()[:320])
    ok = await asyncio.to_thread(verify_password, row["password_hash"] if row else None,
                                 password[:1024])
    if row is None or not ok:
        raise Unauthorized("wrong email or password")
    token = secrets.token_urlsafe(32)
    await agents_store.insert_session(
        state.pool, _token_hash(token), row["id"],
        datetime.now(UTC) + timedelta(seconds=state.settings.session_ttl_s))
    return token


async def log_out(state: HubState, token: str | None) -> None:
    """End the session; its open sockets close within a second (web/realtime/access.py)."""
    if token:
        digest = _token_hash(token[:200])
        await agents_store.delete_session(state.pool, digest)
        await announce_access_change(state.redis, state.settings, token_hash=digest)


async def agent_from_connection(state: HubState, conn: HTTPConnection) -> Agent:
    token = conn.cookies.get(COOKIE)
    if not token or len(token) > 200:
        raise Unauthorized("log in first")
    agent_id = await agents_store.session_agent_id(state.pool, _token_hash(token))
    agent = await agents_store.load_agent(state.pool, agent_id) if agent_id else None
    if agent is None:
        raise Unauthorized("session expired; log in again")
    return agent


def check_same_origin(state: HubState, origin: str | None) -> None:
    """Cookie-authenticated writes and agent sockets must come from our own pages."""
    if origin is None or origin.rstrip("/") not in state.settings.allowed_agent_origins:
        raise Forbidden("origin not allowed")
