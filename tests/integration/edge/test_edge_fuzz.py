"""Crafted input at every door: every route of the app's route table (anonymous and as an
admin) and every frame type of every socket gets deep JSON, NUL in every string field
and query parameter, 2^63 ids, wrong types, non-object JSON, invalid UTF-8 and huge
strings. Each answer is a 4xx (never a 5xx) or an error frame with a specific code (never
``internal``); nothing is stored; the sockets and the process keep working.

The routes and frame types are read from the app and the frame unions, and each handler's
body type from its source (``read_json(request, Kind ...)``), so a new route or frame type
is covered the day it is added, and fails here if it answers 500."""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import msgspec.inspect as mi
import pytest
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from websockets.asyncio.client import connect

from tests.fixtures.helpers import login, recv_json

ADMIN = ("admin@demo.omnihub.test", "demo-admin")
BIG = 2**63
NUL = "a\x00b"
MISSING_ID = 987654  # a valid id no row has: handlers reach their checks, nothing changes
DEEP_ARRAY = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000
WEB = Path(__file__).resolve().parents[3] / "web"

# Whole bodies thrown at every route that takes one (name, bytes, content type).
BODIES: list[tuple[str, bytes, str]] = [
    ("deep array", DEEP_ARRAY, "application/json"),
    ("deep object", DEEP_OBJECT, "application/json"),
    ("deep text/plain", DEEP_OBJECT, "text/plain"),
    ("NUL strings", json.dumps({"text": NUL, "name": NUL, "inbox": NUL, "email": NUL,
                                "status": NUL, "client_id": NUL, "source_id": NUL,
                                "queue": NUL, "phone": NUL, "event": NUL}).encode(),
     "application/json"),
    ("2^63 ids", json.dumps({"id": BIG, "conversation_id": BIG, "agent_id": BIG,
                             "contact_id": BIG, "work_item_id": BIG, "bot_id": BIG,
                             "update_id": BIG}).encode(), "application/json"),
    ("array", b"[1, 2]", "application/json"),
    ("string", b'"text"', "application/json"),
    ("null", b"null", "application/json"),
    ("number", b"1e400", "application/json"),
    ("invalid UTF-8", b'{"text": "\xff\xfe"}', "application/json"),
    ("malformed", b'{"text": ', "application/json"),
    ("NUL form", b"email=a%00b&password=a%00b", "application/x-www-form-urlencoded"),
    ("NUL call form", b"event=newCall&from=a%00b&to=a%00b&direction=in&callId=a%00b",
     "application/x-www-form-urlencoded"),
    ("invalid UTF-8 form", b"email=%ff%fe&event=\xff", "application/x-www-form-urlencoded"),
]


_QUERY_NAME = re.compile(r"""(?:query_params|\bq)(?:\.get\(|\[)\s*["'](\w+)["']""")


def _query_names() -> set[str]:
    """Every query parameter any handler reads (q.get("x"), query_params["x"], ...)."""
    names: set[str] = set()
    for path in WEB.rglob("*.py"):
        names.update(_QUERY_NAME.findall(path.read_text()))
    return names | {"inbox", "id"}


def _route_query_names(route: Route) -> set[str]:
    """The query parameters the route's module reads (each is then broken on its own)."""
    module = inspect.getmodule(inspect.unwrap(route.endpoint))
    try:
        return set(_QUERY_NAME.findall(inspect.getsource(module))) if module else set()
    except (OSError, TypeError):
        return set()


def _walk(routes: list[Any]) -> Iterator[Route | WebSocketRoute]:
    for r in routes:
        if isinstance(r, Mount):
            continue  # static files only (asserted in the route walk)
        if isinstance(r, Route | WebSocketRoute):
            yield r


_BODY_CALL = re.compile(r"(?:read_json\(request,|decode_json\(await read_body\([^)]*\),)"
                        r"\s*([\w\[\]., ]+?)\s*[,)]")


def _body_type(route: Route) -> Any:
    """The struct a handler decodes its JSON body into, read from its source (or from a
    helper of its module that it calls, e.g. ``_submit(request)``)."""
    fn = inspect.unwrap(route.endpoint)
    candidates = [fn]
    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):
        return None
    for name in re.findall(r"\b(\w+)\(", src):
        helper = fn.__globals__.get(name)
        if inspect.isfunction(helper) and helper.__module__ == fn.__module__:
            candidates.append(helper)
    for candidate in candidates:
        m = _BODY_CALL.search(inspect.getsource(candidate))
        if m is not None:
            try:
                # Names from our own source, resolved in their module.
                return eval(m.group(1), candidate.__globals__)
            except Exception:
                return None
    return None


def sample(t: mi.Type) -> Any:
    """A plausible JSON value of a msgspec type (fields are then broken one by one)."""
    if isinstance(t, mi.StrType):
        return "x"
    if isinstance(t, mi.BoolType):
        return True
    if isinstance(t, mi.IntType):
        return 1
    if isinstance(t, mi.FloatType):
        return 1.0
    if isinstance(t, mi.NoneType):
        return None
    if isinstance(t, mi.LiteralType):
        return t.values[0]
    if isinstance(t, mi.EnumType):
        return next(iter(t.cls)).value
    if isinstance(t, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        return [sample(t.item_type)]
    if isinstance(t, mi.TupleType):
        return [sample(x) for x in t.item_types]
    if isinstance(t, mi.DictType):
        return {"k": sample(t.value_type)}
    if isinstance(t, mi.StructType):
        out = {f.encode_name: sample(f.type) for f in t.fields}
        if t.tag_field:
            out[t.tag_field] = t.tag
        return out
    if isinstance(t, mi.UnionType):
        return sample(next((x for x in t.types if not isinstance(x, mi.NoneType)), t.types[0]))
    if isinstance(t, mi.DateTimeType):
        return "2026-01-01T00:00:00Z"
    return "x"


DEEP_MARK = "__deep__"


def _encode(value: Any) -> bytes:
    """JSON bytes; a DEEP_MARK string becomes 1,000 nested arrays."""
    return msgspec.json.encode(value).replace(f'"{DEEP_MARK}"'.encode(), DEEP_ARRAY)


def broken_variants(kind: Any) -> Iterator[tuple[str, Any]]:
    """For each field of the body struct: NUL text, a 2^63 integer, a wrong type, deep
    JSON (inside a field typed Any, only a depth bound stops it)."""
    info = mi.type_info(kind)
    structs = ([info] if isinstance(info, mi.StructType) else
               [x for x in getattr(info, "types", ()) if isinstance(x, mi.StructType)]
               or ([info.item_type] if isinstance(info, mi.ListType)
                   and isinstance(info.item_type, mi.StructType) else []))
    for st in structs:
        base = sample(st)
        wrap = isinstance(info, mi.ListType)
        for f in st.fields:
            for label, value in (("NUL", NUL), ("2^63", BIG), ("wrong type", [[{}]]),
                                 ("deep", DEEP_MARK)):
                if label == "wrong type" and isinstance(f.type, mi.AnyType):
                    continue
                body = {**base, f.encode_name: value}
                yield f"{st.cls.__name__}.{f.encode_name} {label}", [body] if wrap else body
            nested = sample(f.type)
            if isinstance(nested, dict) and nested:
                key = next(iter(nested))
                for label, value in (("NUL", NUL), ("deep", DEEP_MARK)):
                    yield (f"{st.cls.__name__}.{f.encode_name}.{key} {label}",
                           {**base, f.encode_name: {**nested, key: value}})


# Routes that decode untyped JSON (no struct to read): a plausible body, broken leaf by leaf.
UNTYPED_SAMPLES: dict[str, Any] = {
    "/cti/{token}/events": {"event": "newCall", "from": "+4930555716", "to": "+4930555700",
                            "direction": "in", "callId": "c-1", "user": ["Agent One"],
                            "queue": "support", "ivr": {"menu": [1, 2]},
                            "timestamp": 1700000000},
    "/api/v1/inboxes/{inbox}/prechat": {
        "enabled": True, "welcome": "Hi", "phone_region": "DE",
        "fields": [{"key": "name", "label": "Your name", "required": True},
                   {"key": "topic", "label": "Topic", "type": "select",
                    "options": ["Billing", "Shipping"]}],
        "consent": {"text": "I agree.", "version": "2026-01"}},
}
UNTYPED_SAMPLES["/api/v1/cti/{token}"] = UNTYPED_SAMPLES["/cti/{token}/events"]
# Providers' text is kept and made storable at ingest, not refused (docs/pipeline.md): a
# NUL in a phone system's event is accepted and stored cleaned, which
# tests/test_unstorable_input.py checks. Here only its other crafted shapes are walked.
KEEPS_PROVIDER_TEXT = {"/cti/{token}/events", "/api/v1/cti/{token}"}


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    out = dict(value) if isinstance(value, dict) else list(value)
    out[path[0]] = _replaced(value[path[0]], path[1:], new)
    return out


def leaf_variants(sample_body: Any, *, nul: bool = True) -> Iterator[tuple[str, Any]]:
    for path in _leaves(sample_body):
        for label, new in (("NUL", NUL), ("2^63", BIG), ("wrong type", [[{}]]),
                           ("deep", DEEP_MARK)):
            if label == "NUL" and not nul:
                continue
            yield ".".join(map(str, path)) + f" {label}", _replaced(sample_body, path, new)


def huge_variants(kind: Any) -> Iterator[tuple[str, Any]]:
    info = mi.type_info(kind)
    if isinstance(info, mi.StructType):
        base = sample(info)
        for f in info.fields:
            if isinstance(f.type, mi.StrType):
                yield f"{info.cls.__name__}.{f.encode_name} huge", {**base,
                                                                     f.encode_name: "x" * 60_000}


class Walk:
    """Sends crafted requests and collects every answer that breaks the contract."""

    def __init__(self, hub: Any, client: httpx.AsyncClient, bot_token: str) -> None:
        self.hub = hub
        self.client = client
        self.bot_token = bot_token
        self.failures: list[str] = []
        self.accepted: list[str] = []  # 2xx answers to writes: what may have stored something
        self.sent = 0
        creds = hub.seed["messaging"]
        self.tg_secret = creds["telegram"]["secret_token"]
        self.meta_secret = creds["whatsapp"]["app_secret"]

    def path_for(self, route: Route | WebSocketRoute, override: dict[str, str]) -> str:
        values = {}
        for name, conv in route.param_convertors.items():
            if name in override:
                values[name] = override[name]
            elif type(conv).__name__ in ("IntegerConvertor", "PkConvertor"):
                values[name] = str(MISSING_ID)
            elif name == "inbox":
                values[name] = "telegram" if "telegram" in route.path else "web"
            elif name == "token":
                values[name] = self.hub.seed["cti_token"]
            elif name == "request_id":
                values[name] = str(uuid.uuid4())
            elif name == "queue":
                values[name] = "support"
            else:
                values[name] = "x"
        path = route.path
        for name, value in values.items():
            path = re.sub(r"\{" + name + r"(:\w+)?\}", value, path)
        return path

    def headers(self, path: str, body: bytes, ctype: str | None) -> dict[str, str]:
        token = self.bot_token if path.startswith("/api/v1/bot/") else self.hub.seed["api_token"]
        out = {"Origin": self.hub.base_url, "Authorization": f"Bearer {token}",
               "x-telegram-bot-api-secret-token": self.tg_secret,
               "x-hub-signature-256": "sha256=" + hmac.new(
                   self.meta_secret.encode(), body, hashlib.sha256).hexdigest()}
        if ctype:
            out["Content-Type"] = ctype
        return out

    async def send(self, what: str, method: str, path: str, *, body: bytes = b"",
                   ctype: str | None = None, query: str = "",
                   cookies: dict[str, str] | None = None,
                   extra_headers: dict[str, Any] | None = None) -> httpx.Response | None:
        url = path + (f"?{query}" if query else "")
        self.sent += 1
        try:
            r = await self.client.request(method, url, content=body or None,
                                          headers={**self.headers(path, body, ctype),
                                                   **(extra_headers or {})},
                                          cookies=cookies)
        except httpx.HTTPError as exc:
            self.failures.append(f"{method} {url} [{what}]: transport error {exc!r}")
            return None
        if method != "GET" and r.status_code < 300:
            self.accepted.append(f"{method} {url[:100]!r} [{what}]: {r.status_code}")
        problem = None
        if r.status_code >= 500:
            problem = f"status {r.status_code}"
        elif "Traceback" in r.text:
            problem = "stack trace in the answer"
        elif r.headers.get("content-type", "").startswith("application/json"):
            try:
                data = r.json()
            except ValueError:
                data = None
            if isinstance(data, dict) and data.get("error") == "internal":
                problem = "error internal"
        if problem:
            self.failures.append(f"{method} {url[:120]!r} [{what}]: {problem}: {r.text[:200]}")
        return r


async def _counts(db: Any, redis: Any, hub: Any) -> dict[str, int]:
    return {
        "messages": await db.fetchval("SELECT count(*) FROM messages"),
        "conversations": await db.fetchval("SELECT count(*) FROM conversations"),
        "contacts": await db.fetchval("SELECT count(*) FROM contacts"),
        "ingest": await redis.xlen(hub.settings.ingest_stream),
    }


async def _make_bot(hub: Any, cookie: str) -> str:
    async with httpx.AsyncClient(base_url=hub.base_url, cookies={"oh_session": cookie},
                                 headers={"Origin": hub.base_url}) as c:
        r = await c.post("/api/v1/bots", json={"name": "fuzz bot"})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])


def _http_routes(app: Any) -> list[tuple[Route, str]]:
    out = []
    for route in _walk(app.routes):
        if isinstance(route, Route):
            for method in sorted(route.methods or {"GET"}):
                if method not in ("HEAD",):
                    out.append((route, method))
    return out


async def walk_route(walk: Walk, route: Route, method: str, cookies: dict[str, str] | None,
                     names: list[str]) -> None:
    """Every crafted shape at one route and method (refusals only: nothing may be stored)."""
    path = walk.path_for(route, {})
    who = "admin" if cookies else "anonymous"
    # Ids past bigint and NUL in every path parameter, with a plausible body so the
    # handler gets past decoding it.
    kind = _body_type(route) if method != "GET" else None
    body = _encode(sample(mi.type_info(kind))) if kind is not None else b""
    for name, conv in route.param_convertors.items():
        bad = str(BIG) if type(conv).__name__ in ("IntegerConvertor", "PkConvertor") else "a%00b"
        await walk.send(f"{who} path {name}={bad}", method, walk.path_for(route, {name: bad}),
                        body=body, ctype="application/json" if body else None,
                        cookies=cookies)
    # NUL, 2^63, a wrong type and a huge value in every query parameter at once ...
    for label, value in (("NUL", "a%00b"), ("2^63", str(BIG)), ("wrong type", "banana"),
                         ("superscript digit", "%C2%B2"), ("huge", "x" * 4000)):
        await walk.send(f"{who} query all {label}", method, path, cookies=cookies,
                        query="&".join(f"{n}={value}" for n in names))
    # ... and in each parameter the route's module reads, on its own.
    if cookies:
        for n in sorted(_route_query_names(route)):
            for value in ("a%00b", str(BIG), "-1", "banana", "%C2%B2"):
                await walk.send(f"{who} query {n}={value}", method, path, query=f"{n}={value}",
                                cookies=cookies)
    if method == "GET":
        return
    # Numeric headers: '²' (b"\xb2" read as latin-1) passes str.isdigit() but not int().
    for value in (b"\xb2", str(BIG * 10).encode()):
        await walk.send(f"{who} If-Match {value!r}", method, path, body=b"{}",
                        ctype="application/json", cookies=cookies,
                        extra_headers={"If-Match": value})
    for label, body, ctype in BODIES:
        await walk.send(f"{who} body {label} ({ctype})", method, path, body=body, ctype=ctype,
                        cookies=cookies)
    untyped = UNTYPED_SAMPLES.get(route.path) if method != "GET" else None
    if untyped is not None:
        for label, value in leaf_variants(untyped, nul=route.path not in KEEPS_PROVIDER_TEXT):
            await walk.send(f"{who} body {label}", method, path, body=_encode(value),
                            ctype="application/json", cookies=cookies)
    if kind is not None:
        for label, value in broken_variants(kind):
            await walk.send(f"{who} body {label}", method, path, body=_encode(value),
                            ctype="application/json", cookies=cookies)


# Thousands of sequential requests: a hang guard sized for a loaded 2-core machine.
@pytest.mark.timeout(1200)
async def test_every_route_refuses_crafted_input(hub, db, redis):
    app = hub.app
    admin = await login(hub.base_url, ADMIN)
    bot_token = await _make_bot(hub, admin)
    routes = _http_routes(app)
    # The walk skips Mounts: they must stay static files, or the walk must learn them.
    assert all(isinstance(r.app, StaticFiles) for r in app.routes if isinstance(r, Mount))
    assert len(routes) > 60  # the walk really sees the route table
    names = sorted(_query_names())
    before = await _counts(db, redis, hub)
    async with httpx.AsyncClient(base_url=hub.base_url, timeout=30) as client:
        walk = Walk(hub, client, bot_token)
        for cookies in (None, {"oh_session": admin}):
            for route, method in routes:
                if route.path == "/logout":
                    continue  # would end the admin session; it reads no input anyway
                await walk_route(walk, route, method, cookies, names)
        after = await _counts(db, redis, hub)
        # Huge strings may be acceptable input: checked for 5xx only, after the counts.
        for route, method in routes:
            kind = _body_type(route) if method != "GET" else None
            if kind is None:
                continue
            for label, value in huge_variants(kind):
                await walk.send(f"admin body {label}", method, walk.path_for(route, {}),
                                body=msgspec.json.encode(value), ctype="application/json",
                                cookies={"oh_session": admin})
        # The process still works.
        r = await client.get("/healthz")
        assert r.status_code == 200
    print(f"{walk.sent} crafted requests")
    assert not walk.failures, f"{len(walk.failures)} of {walk.sent}:\n" + "\n".join(
        walk.failures[:80])
    assert after == before, "\n".join(walk.accepted)


async def test_the_walk_catches_a_route_that_answers_500():
    """A new route decoding JSON its own way (a RecursionError on deep JSON) fails the walk."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from web.http import unexpected_error_handler

    async def naive(request: Request) -> JSONResponse:
        return JSONResponse({"got": type(msgspec.json.decode(await request.body())).__name__})

    app = Starlette(routes=[Route("/api/v1/naive", naive, methods=["POST"])],
                    exception_handlers={Exception: unexpected_error_handler})

    class FakeHub:
        base_url = "http://test"
        seed = {"api_token": "t", "cti_token": "c",
                "messaging": {"telegram": {"secret_token": "s"},
                              "whatsapp": {"app_secret": "m"}}}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        walk = Walk(FakeHub(), client, "b")
        for route, method in _http_routes(app):
            await walk_route(walk, route, method, None, ["inbox"])
    assert any("deep array" in f and "status 500" in f for f in walk.failures), walk.failures


# ---- sockets --------------------------------------------------------------------------


def _frame_types(union: Any) -> list[mi.StructType]:
    info = mi.type_info(union)
    return [t for t in getattr(info, "types", (info,)) if isinstance(t, mi.StructType)]


def frame_variants(union: Any) -> Iterator[tuple[str, str]]:
    """Crafted text frames: whole-frame shapes, then each field of each frame type broken."""
    yield "deep array", DEEP_ARRAY.decode()
    yield "deep object", DEEP_OBJECT.decode()
    yield "array", "[1, 2]"
    yield "string", '"ping"'
    yield "null", "null"
    yield "number", "1e400"
    yield "NUL type", json.dumps({"type": NUL})
    yield "2^63 type", json.dumps({"type": BIG})
    yield "surrogate", '{"type": "\\ud800"}'
    for st in _frame_types(union):
        base = sample(st)
        for f in st.fields:
            if isinstance(f.type, mi.IntType):
                base[f.encode_name] = MISSING_ID
        for f in st.fields:
            for label, value in (("NUL", NUL), ("2^63", BIG), ("-1", -1), ("wrong type", [{}]),
                                 ("huge", "x" * 30_000), ("deep", DEEP_MARK)):
                frame = {**base, f.encode_name: value}
                yield f"{st.tag}.{f.encode_name} {label}", _encode(frame).decode()
        yield f"{st.tag} deep extra", json.dumps(base)[:-1] + ', "extra": ' + \
            DEEP_ARRAY.decode() + "}"


async def _exercise_socket(ws: Any, union: Any, failures: list[str], name: str) -> int:
    sent = 0
    for label, raw in frame_variants(union):
        sent += 1
        await ws.send(raw)
        await ws.send('{"type": "ping"}')
        while True:  # everything the frame caused, up to the pong that follows it
            frame = await recv_json(ws)
            if frame.get("type") == "pong":
                break
            if frame.get("type") == "error":
                if frame.get("code") in (None, "", "internal") or not frame.get("reason"):
                    failures.append(f"{name} [{label}]: {frame}")
    return sent


# Thousands of sequential requests: a hang guard sized for a loaded 2-core machine.
@pytest.mark.timeout(1200)
async def test_every_socket_frame_type_refuses_crafted_input(hub, db, redis):
    from web.realtime.bot_socket import BotFrame
    from web.realtime.endpoints import AgentFrame, WidgetInbound

    admin = await login(hub.base_url, ADMIN)
    bot_token = await _make_bot(hub, admin)
    before = await _counts(db, redis, hub)
    failures: list[str] = []
    sent = 0
    sockets = [
        ("/ws/agent", AgentFrame, dict(origin=hub.base_url,
                                        additional_headers={"Cookie": f"oh_session={admin}"})),
        ("/ws/widget?inbox=web", WidgetInbound, dict(origin="https://shop.example")),
        ("/ws/bot", BotFrame, dict(origin=hub.base_url,
                                   additional_headers={"Authorization": f"Bearer {bot_token}"})),
    ]
    # A new socket route must be added above (with its frame union) to pass.
    socket_paths = {r.path for r in _walk(hub.app.routes) if isinstance(r, WebSocketRoute)}
    assert socket_paths == {p.split("?")[0] for p, _, _ in sockets}
    for path, union, kw in sockets:
        async with connect(f"{hub.ws_url}{path}", max_size=2**24, **kw) as ws:
            hello = await recv_json(ws)
            assert hello["type"] == "hello", hello
            sent += await _exercise_socket(ws, union, failures, path)
    print(f"{sent} crafted frames")
    assert not failures, "\n".join(failures[:80])
    assert await _counts(db, redis, hub) == before


@pytest.mark.parametrize("query", ["inbox=web%00", "inbox=web&token=a%00b", "last_id=1-0%00"])
async def test_socket_handshake_with_nul_closes_1008(hub, query):
    from websockets.exceptions import ConnectionClosed

    async with connect(f"{hub.ws_url}/ws/widget?{query}", origin="https://shop.example") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008

