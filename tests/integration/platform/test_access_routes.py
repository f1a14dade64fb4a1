"""Every route declares who may use it, and the declaration holds live.

- the route table (HTTP routes, websocket routes, mounts) has no route without a declared
  policy (web/routing_kit.py), and every agent route names a hub.access rule;
- the role x resource x action matrix (tests/access_matrix.py) has one row per route, its
  least role agrees with the declared rule, and each row holds against the live hub for
  anonymous, a bot token, an agent of another inbox, an agent of the inbox, a supervisor
  and an admin;
- ``{x:pk}`` ids outside 1..2^63-1 are a JSON 404 before any handler (no session needed
  to find out, nothing reaches Postgres).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import msgspec
import pytest
from starlette.routing import Mount, Route, WebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hub import access
from tests.fixtures.access_matrix import GROUP_ROLE, GROUPS, MATRIX, ROLES
from tests.fixtures.helpers import (
    AGENT,
    SUPERVISOR,
    agent_http,
    api_post,
    eventually,
    login,
    new_id,
)
from tests.fixtures.realtime import ADMIN, make_agent
from web.app import create_app
from web.routing_kit import PkConvertor, policy_of

BIGINT_MAX = 2**63 - 1


def _norm(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def _table(settings: Any) -> list[tuple[str, str, Any]]:
    """(method, normalised path, policy) of every route; websockets have method WS."""
    app = create_app(msgspec.structs.replace(settings, dev_mailbox_dir="/nonexistent"))
    rows: list[tuple[str, str, Any]] = []
    for route in app.routes:
        if isinstance(route, Route):
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                rows.append((method, _norm(route.path), policy_of(route.endpoint)))
        elif isinstance(route, WebSocketRoute):
            rows.append(("WS", _norm(route.path), policy_of(route.endpoint)))
        elif isinstance(route, Mount):
            rows.append(("GET", _norm(route.path) + "/{}", policy_of(route.app)))
        else:  # pragma: no cover - a new kind of route needs a rule here
            rows.append(("?", repr(route), None))
    return rows


async def test_every_route_declares_a_policy(settings):
    table = _table(settings)
    assert len(table) > 100
    missing = [(m, p) for m, p, pol in table if pol is None]
    assert missing == [], f"routes without a declared access policy: {missing}"
    for method, path, pol in table:
        if pol.kind in ("agent", "bot"):
            assert pol.action in access.RULES, (method, path, pol)
        else:
            assert pol.kind == "public" and pol.why, (method, path, pol)


async def test_matrix_covers_every_route_and_agrees_with_the_policy(settings):
    declared = {(m, p): pol for m, p, pol in _table(settings)}
    rows = {(m, _norm(p)): who for m, p, who, _ in MATRIX}
    assert len(rows) == len(MATRIX), "a route is listed twice"
    assert sorted(set(declared) - set(rows)) == [], "routes missing from the matrix"
    assert sorted(set(rows) - set(declared)) == [], "matrix rows for no route"
    for key, who in rows.items():
        pol = declared[key]
        kind = "agent" if who in GROUP_ROLE else who
        assert pol.kind == kind, (key, who, pol)
        if who in GROUP_ROLE:
            assert access.rule(pol.action).role == GROUP_ROLE[who], (key, who, pol)
        if who == "agent:inbox":
            assert access.rule(pol.action).scope != "none", (key, who, pol)


# ---- live --------------------------------------------------------------------------------


async def _fixture_rows(hub) -> dict[str, str]:
    """Real rows for the placeholders: a fresh api conversation and its contact and first
    message, a bot, agent1 and a work item id that does not exist."""
    source = "matrix-" + new_id()
    r = await api_post(hub.base_url, hub.seed["api_token"],
                       {"source_id": source, "text": "hello", "message_id": new_id()})
    assert r.status_code == 202, r.text
    async with agent_http(hub.base_url, await login(hub.base_url, ADMIN)) as admin:
        async def api_conversations() -> list[dict[str, Any]]:
            r = await admin.get("/api/v1/conversations", params={"inbox": "api"})
            return r.json()["conversations"]

        conv = (await eventually(api_conversations))[0]["conversation"]
        detail = (await admin.get(f"/api/v1/conversations/{conv['id']}")).json()
        r = await admin.post("/api/v1/bots", json={"name": "matrix-target"})
        assert r.status_code == 201, r.text
        bot_id = r.json()["bot"]["id"]
    return {"conv": str(conv["id"]), "contact": str(detail["conversation"]["contact_id"]),
            "message": str(detail["messages"][0]["id"]), "bot": str(bot_id),
            "agent": str(hub.seed["agents"]["agent1@demo.omnihub.test"]), "item": "999999",
            "inbox": "mail", "queue": "support", "static": "admin.css", "index": "0"}


async def _principals(hub) -> dict[str, dict[str, Any]]:
    """Headers/cookies per role. ``other`` is an agent of the mail inbox only."""
    async with agent_http(hub.base_url, await login(hub.base_url, ADMIN)) as admin:
        r = await admin.post("/api/v1/bots", json={"name": "matrix-principal"})
        assert r.status_code == 201, r.text
        bot_token = r.json()["token"]
    _, other = await make_agent(hub, "other@demo.omnihub.test", inboxes=["mail"])
    return {
        "anonymous": {},
        "bot": {"headers": {"Authorization": f"Bearer {bot_token}"}},
        "other": {"cookies": {"oh_session": other}},
        "agent": {"cookies": {"oh_session": await login(hub.base_url, AGENT)}},
        "supervisor": {"cookies": {"oh_session": await login(hub.base_url, SUPERVISOR)}},
        "admin": {"cookies": {"oh_session": await login(hub.base_url, ADMIN)}},
    }


async def _http(hub, who: dict[str, Any], method: str, path: str, body: Any
                ) -> tuple[int, Any, str]:
    headers = {"Origin": hub.base_url, **who.get("headers", {})}
    async with httpx.AsyncClient(base_url=hub.base_url, cookies=who.get("cookies"),
                                 headers=headers) as client:
        r = await client.request(method, path, json=body)
    try:
        payload = r.json()
    except ValueError:
        payload = None
    return r.status_code, payload, r.headers.get("location", "")


async def _ws(hub, who: dict[str, Any], path: str) -> str:
    """``open`` when the socket stays open past its first frame, else ``refused``."""
    headers = dict(who.get("headers", {}))
    if "cookies" in who:
        headers["Cookie"] = f"oh_session={who['cookies']['oh_session']}"
    query = "?inbox=web" if path == "/ws/widget" else ""
    try:
        async with connect(hub.ws_url + path + query, origin=hub.base_url,
                           additional_headers=headers, open_timeout=10) as ws:
            await ws.recv()  # the hello frame, or the refusal's close
            return "open"
    except ConnectionClosed as exc:
        return f"refused:{exc.rcvd.code if exc.rcvd else None}"


def _check(expect: str, status: int, payload: Any, location: str) -> bool:
    if expect == "A":
        return status not in (401, 403) and status < 500
    if expect == "D":
        return status in (401, 403, 404) and isinstance(payload, dict) and bool(
            payload.get("reason"))
    if expect == "R":
        return status == 303 and location in ("/login", "/inbox")
    raise AssertionError(expect)


@pytest.mark.timeout(240)
async def test_role_resource_action_matrix_holds_live(hub):
    rows = await _fixture_rows(hub)
    who = await _principals(hub)
    failures: list[str] = []
    public_seen: dict[tuple[str, str], int | str] = {}
    # logout ends the session it is sent with: it runs last.
    ordered = sorted(MATRIX, key=lambda row: row[1] == "/logout")
    for method, template, group, body in ordered:
        path = template.format(**rows)
        for role in ROLES:
            expect = GROUPS[group][role]
            if method == "WS":
                got: int | str = await _ws(hub, who[role], path)
                ok = (got == "open") if expect in ("A", "P") else got == "refused:1008"
                if expect == "P":
                    ok = got == public_seen.setdefault((method, path), got)
            else:
                status, payload, location = await _http(hub, who[role], method, path, body)
                got = status
                if expect == "P":
                    first = public_seen.setdefault((method, path), status)
                    ok = status < 500 and (status == first or 429 in (status, first))
                else:
                    ok = _check(expect, status, payload, location)
            if not ok:
                failures.append(f"{method} {template} as {role}: expected {expect}, got {got}")
    assert failures == [], "\n".join(failures)


# ---- the pk convertor --------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1", "42", str(BIGINT_MAX), str(BIGINT_MAX - 1),
                                  "9223372036854775799", "999999999999999999"])
def test_pk_accepts_bigint_ids(text):
    assert re.fullmatch(PkConvertor.regex, text)
    assert PkConvertor().convert(text) == int(text)


@pytest.mark.parametrize("text", ["0", "00", "01", "-1", str(BIGINT_MAX + 1),
                                  "9999999999999999999", "1" * 20, "1e3", "", "\uff11"])
def test_pk_refuses_what_is_not_a_row_id(text):
    assert not re.fullmatch(PkConvertor.regex, text)


async def test_out_of_range_ids_are_json_404_before_the_handler(hub):
    # Anonymous on purpose: the route never matched, so no handler asked for a session.
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        for bad in ("0", "01", str(BIGINT_MAX + 1), "99999999999999999999999"):
            for path in (f"/api/v1/conversations/{bad}", f"/api/v1/contacts/{bad}/timeline",
                         f"/api/v1/bots/{bad}/deliveries", f"/api/v1/calls/{bad}"):
                r = await client.get(path)
                assert r.status_code == 404, (path, r.status_code, r.text)
                assert r.json()["error"] == "not_found", r.text
        r = await client.get(f"/api/v1/conversations/{BIGINT_MAX}")
        assert r.status_code == 401  # in range: the route matched and asks for a session


def test_every_agent_socket_action_names_a_policy_rule():
    """The socket asks the same policy as REST: each agent frame that acts (all but
    ping) maps to a hub.access action."""
    from typing import get_args

    from web.realtime.endpoints import FRAME_ACTIONS, AgentFrame, AgentPing

    acting = {t for t in get_args(AgentFrame) if t is not AgentPing}
    assert set(FRAME_ACTIONS) == acting
    assert all(action in access.RULES for action in FRAME_ACTIONS.values())
