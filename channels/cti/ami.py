"""A small Asterisk Manager Interface (AMI) client for click-to-call ``Originate``.

Line protocol over TCP (default port 5038): a banner line, then packets of
``Key: Value\\r\\n`` lines ended by a blank line. We send ``Login``, then ``Originate``
with ``Async: true`` and our ``ActionID``; the server answers ``Response: Success`` (the
originate is queued) and later ``Event: OriginateResponse`` with the same ``ActionID``
and ``Response: Success|Failure``, ``Reason``, ``Uniqueid``. Other events in between
are skipped. Values are sanitised: a CR/LF in a value would inject AMI headers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hub.errors import BadInput

Packet = dict[str, str]


class AmiError(Exception):
    """The AMI server refused, or the conversation broke; ``permanent`` when a retry
    cannot help (bad login, action refused). ``code`` is the stable reason
    (hub/voice/rules/callbacks.py DIAL_FAILURES); ``reason`` the detail, for logs only."""

    def __init__(self, reason: str, *, permanent: bool, code: str = "pbx_unreachable"
                 ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.code = code


@dataclass(frozen=True, slots=True)
class AmiOriginate:
    channel: str            # the agent leg, e.g. PJSIP/101
    exten: str              # the customer number the dialplan dials after the agent answers
    context: str
    caller_id: str = ""
    priority: int = 1
    timeout_ms: int = 30_000
    variables: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class AmiResult:
    ok: bool
    reason: str
    unique_id: str


def _clean(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise BadInput("AMI values must not contain line breaks")
    return value


def encode_packet(fields: list[tuple[str, str]]) -> bytes:
    lines = [f"{_clean(k)}: {_clean(v)}" for k, v in fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_packet(reader: asyncio.StreamReader) -> Packet:
    packet: Packet = {}
    while True:
        line = await reader.readline()
        if not line:
            raise AmiError("connection closed by the AMI server", permanent=False)
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            if packet:
                return packet
            continue
        key, sep, value = text.partition(":")
        if sep:
            packet[key.strip()] = value.strip()


class AmiClient:
    def __init__(self, host: str, port: int, username: str, secret: str,
                 timeout_s: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.secret = secret
        self.timeout_s = timeout_s

    async def _expect_response(self, reader: asyncio.StreamReader, action_id: str) -> Packet:
        while True:
            packet = await read_packet(reader)
            if packet.get("ActionID") == action_id and "Response" in packet:
                return packet

    async def originate(self, request: AmiOriginate, action_id: str,
                        answer_timeout_s: float | None = None) -> AmiResult:
        """Login, Originate (async), wait for its OriginateResponse, Logoff."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout_s)
        except (OSError, TimeoutError) as exc:
            raise AmiError(f"cannot reach AMI {self.host}:{self.port}: {exc!r}",
                           permanent=False, code="pbx_unreachable") from None
        try:
            await asyncio.wait_for(reader.readline(), self.timeout_s)  # banner
            writer.write(encode_packet([("Action", "Login"), ("ActionID", f"{action_id}-login"),
                                        ("Username", self.username), ("Secret", self.secret),
                                        ("Events", "call")]))
            await writer.drain()
            login = await asyncio.wait_for(
                self._expect_response(reader, f"{action_id}-login"), self.timeout_s)
            if login.get("Response") != "Success":
                raise AmiError(f"AMI login refused: {login.get('Message', '')}", permanent=True,
                               code="pbx_login_refused")
            fields = [("Action", "Originate"), ("ActionID", action_id),
                      ("Channel", request.channel), ("Context", request.context),
                      ("Exten", request.exten), ("Priority", str(request.priority)),
                      ("Timeout", str(request.timeout_ms)), ("Async", "true")]
            if request.caller_id:
                fields.append(("CallerID", request.caller_id))
            fields.extend(("Variable", f"{k}={v}") for k, v in request.variables)
            writer.write(encode_packet(fields))
            await writer.drain()
            queued = await asyncio.wait_for(self._expect_response(reader, action_id),
                                            self.timeout_s)
            if queued.get("Response") != "Success":
                raise AmiError(f"Originate refused: {queued.get('Message', '')}",
                               permanent=True, code="originate_refused")
            wait = answer_timeout_s or request.timeout_ms / 1000 + self.timeout_s
            result = await asyncio.wait_for(self._originate_response(reader, action_id), wait)
            writer.write(encode_packet([("Action", "Logoff"), ("ActionID", f"{action_id}-bye")]))
            await writer.drain()
            return result
        except TimeoutError:
            raise AmiError("AMI did not answer in time", permanent=False,
                           code="pbx_timeout") from None
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ConnectionError):
                pass

    async def _originate_response(self, reader: asyncio.StreamReader, action_id: str
                                  ) -> AmiResult:
        while True:
            packet = await read_packet(reader)
            if packet.get("Event") == "OriginateResponse" and packet.get("ActionID") == action_id:
                ok = packet.get("Response") == "Success"
                return AmiResult(ok=ok, reason=packet.get("Reason", ""),
                                 unique_id=packet.get("Uniqueid", ""))
