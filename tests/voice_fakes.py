"""Local fake telephony providers over real TCP/HTTP on 127.0.0.1: an Asterisk AMI
server speaking the line protocol, and a Twilio REST server for Calls.json."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.ports import ReservedPort, running_uvicorn


@dataclass
class FakeAmi:
    """Scripted AMI peer. ``originate_result``: (Response, Reason) of OriginateResponse."""

    username: str = "omnihub"
    secret: str = "s3cret"
    originate_result: tuple[str, str] = ("Success", "4")
    refuse_originate: bool = False
    packets: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    server: asyncio.base_events.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/7.0.3\r\n")
        try:
            while True:
                packet: dict[str, Any] = {}
                while True:
                    line = await reader.readline()
                    if not line:
                        return
                    text = line.decode().rstrip("\r\n")
                    if not text:
                        break
                    key, _, value = text.partition(": ")
                    if key in packet:  # repeated keys (Variable) become lists
                        prev = packet[key]
                        packet[key] = [*(prev if isinstance(prev, list) else [prev]), value]
                    else:
                        packet[key] = value
                if not packet:
                    continue
                self.packets.append(packet)
                aid = packet.get("ActionID", "")
                action = packet.get("Action")
                if action == "Login":
                    ok = packet.get("Username") == self.username and \
                        packet.get("Secret") == self.secret
                    writer.write((f"Response: {'Success' if ok else 'Error'}\r\nActionID: {aid}"
                                  f"\r\nMessage: {'Authentication accepted' if ok else 'Authentication failed'}"
                                  "\r\n\r\n").encode())
                elif action == "Originate":
                    # Unrelated events first: the client must skip them.
                    writer.write(b"Event: Newchannel\r\nChannel: PJSIP/101-0001\r\n\r\n")
                    if self.refuse_originate:
                        writer.write(f"Response: Error\r\nActionID: {aid}\r\nMessage: Permission"
                                     " denied\r\n\r\n".encode())
                    else:
                        writer.write(f"Response: Success\r\nActionID: {aid}\r\nMessage:"
                                     " Originate successfully queued\r\n\r\n".encode())
                        await writer.drain()
                        await asyncio.sleep(0.05)
                        resp, reason = self.originate_result
                        writer.write((f"Event: OriginateResponse\r\nPrivilege: call,all\r\n"
                                      f"ActionID: {aid}\r\nResponse: {resp}\r\n"
                                      f"Channel: {packet.get('Channel')}\r\nContext: "
                                      f"{packet.get('Context')}\r\nExten: {packet.get('Exten')}"
                                      f"\r\nReason: {reason}\r\nUniqueid: 1732900000.42\r\n"
                                      "\r\n").encode())
                elif action == "Logoff":
                    writer.write(f"Response: Goodbye\r\nActionID: {aid}\r\n\r\n".encode())
                    await writer.drain()
                    return
                await writer.drain()
        finally:
            writer.close()

    async def __aenter__(self) -> FakeAmi:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@dataclass
class FakeTwilio:
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "twilio-token-123"
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int = 0
    port: int = 0

    async def calls(self, request: Request) -> JSONResponse:
        body = (await request.body()).decode()
        auth = request.headers.get("authorization", "")
        user, _, password = base64.b64decode(auth.partition(" ")[2]).decode().partition(":")
        self.requests.append({"path": request.url.path, "auth": (user, password),
                              "form": parse_qsl(body, keep_blank_values=True)})
        if (user, password) != (self.account_sid, self.auth_token):
            return JSONResponse({"code": 20003, "message": "Authenticate"}, 401)
        if self.fail_with:
            return JSONResponse({"code": 21211, "message": "The 'To' number is not valid."},
                                self.fail_with)
        n = len(self.requests)
        return JSONResponse({"sid": f"CA{n:032d}", "status": "queued",
                             "direction": "outbound-api"}, 201)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    reserved = ReservedPort()
    fake = FakeTwilio(port=reserved.port)
    app = Starlette(routes=[Route("/2010-04-01/Accounts/{sid}/Calls.json", fake.calls,
                                  methods=["POST"])])
    async with running_uvicorn(app, reserved):
        yield fake
