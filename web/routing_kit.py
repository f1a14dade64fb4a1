"""What every route module needs, in one place: the declared access policy of a route
(``agent_route`` for agent sessions, ``bot_route`` for bot tokens, ``public_route`` for
webhooks, login, the widget, health and static files) and the ``pk`` path convertor.

Every endpoint in the app's route table carries an ``access_policy`` attribute; the route
table test (tests/test_access_routes.py) fails for one that does not. The decision
itself is hub.access's: this module only asks it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hub import access
from hub.errors import HubError
from hub.schema import Agent
from hub.untrusted import BIGINT_MAX
from web.auth import agent_from_connection, check_same_origin
from web.state import HubState

Handler = Callable[[Request, HubState, Agent], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RoutePolicy:
    """Who a route is for. ``agent``/``bot`` name a hub.access action; ``public`` says why
    nobody needs to log in (the route authenticates otherwise, or serves public data)."""

    kind: Literal["agent", "bot", "public"]
    action: str = ""
    why: str = ""
    write: bool = False


def policy_of(endpoint: Any) -> RoutePolicy | None:
    return getattr(endpoint, "access_policy", None)


def agent_route(action: str, *, write: bool = False) -> Callable[[Handler], Endpoint]:
    """An agent-session route for ``action`` (a hub.access rule): authenticate, ask the
    policy for the role part (the stores ask again with the resource's inbox), and for
    writes check the Origin first."""
    access.rule(action)  # an unknown action fails at import, not at request time

    def wrap(fn: Handler) -> Endpoint:
        @functools.wraps(fn)  # keeps __wrapped__: tests read the handler's body type
        async def endpoint(request: Request) -> Response:
            state: HubState = request.app.state.hub
            if write:
                check_same_origin(state, request.headers.get("origin"))
            agent = await agent_from_connection(state, request)
            access.require(agent, action)
            return await fn(request, state, agent)
        endpoint.access_policy = RoutePolicy("agent", action, write=write)  # type: ignore[attr-defined]
        return endpoint
    return wrap


def page_route(action: str) -> Callable[[Callable[[Request], Awaitable[Response]]], Endpoint]:
    """An agent page: without a session it redirects to the login form, and an agent the
    policy refuses goes to the inbox (the API the page calls checks again)."""
    access.rule(action)

    def wrap(fn: Callable[[Request], Awaitable[Response]]) -> Endpoint:
        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            try:
                agent = await agent_from_connection(request.app.state.hub, request)
            except HubError:
                return RedirectResponse("/login", status_code=303)
            if not access.allows(agent, action):
                return RedirectResponse("/inbox", status_code=303)
            return await fn(request)
        endpoint.access_policy = RoutePolicy("agent", action)  # type: ignore[attr-defined]
        return endpoint
    return wrap


def socket_route(action: str) -> Callable[[F], F]:
    """Marks an agent websocket endpoint (it authenticates in its handshake and asks the
    policy per frame)."""
    access.rule(action)

    def mark(fn: F) -> F:
        fn.access_policy = RoutePolicy("agent", action)  # type: ignore[attr-defined]
        return fn
    return mark


def bot_route(action: str = "bot.act") -> Callable[[F], F]:
    """Marks a route authenticated by a bot's bearer token (checked in the handler)."""
    access.rule(action)

    def mark(fn: F) -> F:
        fn.access_policy = RoutePolicy("bot", action)  # type: ignore[attr-defined]
        return fn
    return mark


def public_route(why: str) -> Callable[[F], F]:
    """Marks a route that needs no agent session, saying why (e.g. "provider webhook,
    signature checked")."""
    def mark(fn: F) -> F:
        fn.access_policy = RoutePolicy("public", why=why)  # type: ignore[attr-defined]
        return fn
    return mark


def mark_public(app: Any, why: str) -> Any:
    """``public_route`` for an ASGI app mounted under a prefix (static files)."""
    app.access_policy = RoutePolicy("public", why=why)
    return app


def _bigint_pattern(limit: int) -> str:
    """A regex for 1..limit in decimal without leading zeros: shorter numbers, then for
    each digit of ``limit`` the numbers that first fall below it there, then ``limit``."""
    digits = str(limit)
    n = len(digits)
    alts = [f"[1-9][0-9]{{0,{n - 2}}}"]
    for i, d in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(d) > low:
            rest = n - i - 1
            alts.append(f"{digits[:i]}[{low}-{int(d) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    alts.append(digits)
    return "(?:" + "|".join(alts) + ")"


class PkConvertor(Convertor[int]):
    """``{name:pk}``: a row id, 1..2^63-1. Anything else (0, leading zeros, too big, not
    digits) matches no route, so it is a JSON 404 before any handler runs."""

    regex = _bigint_pattern(BIGINT_MAX)

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("pk", PkConvertor())


def pk(request: Request, name: str) -> int:
    """The id the ``pk`` convertor already checked."""
    value: int = request.path_params[name]
    return value
