"""A small local PBX for ``make dev`` (and tests): it answers the Asterisk Manager
Interface like Asterisk and reports each call to the hub's CTI API like a PBX's CTI
script, so a newcomer sees click-to-call work end to end without a real Asterisk.

AMI side (TCP, the line protocol of channels/cti/ami.py): a banner, then ``Login``
(``Response: Success`` / ``Error``), ``Ping``, ``Logoff``, and ``Originate`` with
``Async: true``: ``Response: Success`` ("queued"), then events on that session:
``Newchannel`` and ``Newstate`` (the agent's phone rings), ``OriginateResponse``
(``Response: Success``, ``Reason: 4`` = answered, ``Uniqueid``) when the agent answers,
then ``DialBegin``/``DialEnd``/``Hangup`` for the customer leg while the session lasts.

CTI side (docs/voice.md, the generic CTI API): once the agent answered, the dialplan
"calls the customer": ``newCall`` (direction out, ``from`` the caller id, ``to`` the
customer, ``user`` the agent's extension, ``callbackId`` from the ``OMNIHUB_CALLBACK``
channel variable), ``answer`` after ``customer_ring_s``, ``hangup`` (normalClearing)
after ``talk_s``. The hub links the call to the callback, which ends ``completed``.

Never for production: it rings nobody, accepts one user, and binds loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from channels.cti.ami import Packet, encode_packet
from channels.loopback import is_loopback

log = logging.getLogger("omnihub.devpbx")

BANNER = b"Asterisk Call Manager/7.0.3\r\n"


@dataclass(frozen=True, slots=True)
class SimTiming:
    agent_ring_s: float = 2.0      # the agent's phone rings, then the agent answers
    customer_ring_s: float = 3.0   # the customer's phone rings, then they answer
    talk_s: float = 8.0            # then the customer hangs up


@dataclass(slots=True)
class SimCall:
    """One originated call, as the simulator played it (tests read ``cti``)."""

    unique_id: str
    extension: str
    customer: str
    callback_id: str
    cti: list[dict[str, Any]] = field(default_factory=list)  # events posted, in order
    done: asyncio.Event = field(default_factory=asyncio.Event)


def _read_variables(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        key, sep, value = v.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


class PbxSimulator:
    def __init__(self, username: str, secret: str, cti_url: str, *,
                 timing: SimTiming | None = None, http: httpx.AsyncClient | None = None
                 ) -> None:
        self.username = username
        self.secret = secret
        self.cti_url = cti_url
        self.timing = timing or SimTiming()
        self._http = http
        self._own_http = http is None
        self.calls: list[SimCall] = []
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen (port 0: any free port); returns the bound port."""
        if not is_loopback(host):
            raise ValueError(f"the dev PBX listens on loopback only, not {host!r}")
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)
        self._server = await asyncio.start_server(self._session, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._own_http and self._http is not None:
            await self._http.aclose()

    async def __aenter__(self) -> PbxSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- AMI ---------------------------------------------------------------------------

    async def _session(self, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        logged_in = False
        send_lock = asyncio.Lock()

        async def send(fields: list[tuple[str, str]]) -> None:
            async with send_lock:
                if writer.is_closing():
                    return
                writer.write(encode_packet(fields))
                with contextlib.suppress(ConnectionError):
                    await writer.drain()

        writer.write(BANNER)
        try:
            while True:
                packet, variables = await _read_action(reader)
                if packet is None:
                    return
                action = packet.get("Action", "").lower()
                aid = [("ActionID", packet["ActionID"])] if "ActionID" in packet else []
                if action == "login":
                    logged_in = (packet.get("Username") == self.username
                                 and packet.get("Secret") == self.secret)
                    await send([("Response", "Success" if logged_in else "Error"), *aid,
                                ("Message", "Authentication accepted" if logged_in
                                 else "Authentication failed")])
                elif action == "logoff":
                    await send([("Response", "Goodbye"), *aid,
                                ("Message", "Thanks for all the fish.")])
                    return
                elif not logged_in:
                    await send([("Response", "Error"), *aid, ("Message", "Permission denied")])
                elif action == "ping":
                    await send([("Response", "Success"), *aid, ("Ping", "Pong"),
                                ("Timestamp", f"{time.time():.6f}")])
                elif action == "originate":
                    await self._originate(packet, variables, aid, send)
                else:
                    await send([("Response", "Error"), *aid,
                                ("Message", "Invalid/unknown command")])
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _originate(self, packet: Packet, variables: list[str],
                         aid: list[tuple[str, str]], send: Any) -> None:
        channel = packet.get("Channel", "")
        _tech, _, extension = channel.partition("/")
        exten = packet.get("Exten", "")
        if not extension or not exten:
            await send([("Response", "Error"), *aid,
                        ("Message", "Originate requires Channel and Exten")])
            return
        var = _read_variables(variables)
        call = SimCall(unique_id=f"{int(time.time())}.{next(self._ids)}", extension=extension,
                       customer=var.get("OMNIHUB_CUSTOMER") or exten,
                       callback_id=var.get("OMNIHUB_CALLBACK", ""))
        self.calls.append(call)
        await send([("Response", "Success"), *aid,
                    ("Message", "Originate successfully queued")])
        task = asyncio.create_task(self._play(call, packet, aid, send))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _play(self, call: SimCall, packet: Packet, aid: list[tuple[str, str]],
                    send: Any) -> None:
        """Ring the agent, answer, then call the customer and report it over CTI."""
        t = self.timing
        agent_chan = f"{packet.get('Channel')}-{call.unique_id.replace('.', '')[-8:]}"
        try:
            await send([("Event", "Newchannel"), ("Privilege", "call,all"),
                        ("Channel", agent_chan), ("ChannelState", "5"),
                        ("ChannelStateDesc", "Ringing"), ("Uniqueid", call.unique_id)])
            await asyncio.sleep(t.agent_ring_s)
            await send([("Event", "Newstate"), ("Privilege", "call,all"),
                        ("Channel", agent_chan), ("ChannelState", "6"),
                        ("ChannelStateDesc", "Up"), ("Uniqueid", call.unique_id)])
            await send([("Event", "OriginateResponse"), ("Privilege", "call,all"), *aid,
                        ("Response", "Success"), ("Channel", agent_chan),
                        ("Context", packet.get("Context", "")),
                        ("Exten", packet.get("Exten", "")), ("Reason", "4"),
                        ("Uniqueid", call.unique_id),
                        ("CallerIDNum", packet.get("CallerID", ""))])
            caller = _caller_number(packet.get("CallerID", ""))
            base = {"callId": call.unique_id, "direction": "out", "from": caller,
                    "to": call.customer, "user": [call.extension]}
            if call.callback_id:
                base["callbackId"] = call.callback_id
            await send([("Event", "DialBegin"), ("Privilege", "call,all"),
                        ("Channel", agent_chan), ("DestExten", call.customer)])
            await self._cti(call, {**base, "event": "newCall"})
            await asyncio.sleep(t.customer_ring_s)
            await send([("Event", "DialEnd"), ("Privilege", "call,all"),
                        ("Channel", agent_chan), ("DialStatus", "ANSWER")])
            await self._cti(call, {**base, "event": "answer",
                                   "answeringNumber": call.extension})
            await asyncio.sleep(t.talk_s)
            await send([("Event", "Hangup"), ("Privilege", "call,all"),
                        ("Channel", agent_chan), ("Uniqueid", call.unique_id),
                        ("Cause", "16"), ("Cause-txt", "Normal Clearing")])
            await self._cti(call, {**base, "event": "hangup", "cause": "normalClearing",
                                   "answeringNumber": call.extension})
        finally:
            call.done.set()

    async def _cti(self, call: SimCall, payload: dict[str, Any]) -> None:
        """POST one CTI event; a hub that is down or says no is logged, not fatal."""
        call.cti.append(payload)
        assert self._http is not None
        try:
            resp = await self._http.post(self.cti_url, json=payload)
        except httpx.HTTPError as exc:
            log.warning("dev PBX: CTI %s for call %s not delivered: %s", payload["event"],
                        call.unique_id, type(exc).__name__)
            return
        if resp.status_code != 200:
            log.warning("dev PBX: CTI %s for call %s: HTTP %d", payload["event"],
                        call.unique_id, resp.status_code)
        else:
            log.info("dev PBX: call %s %s (agent %s, customer %s)", call.unique_id,
                     payload["event"], call.extension, call.customer)


def _caller_number(caller_id: str) -> str:
    """``Omnihub Support <493055571600>`` → ``493055571600``."""
    if "<" in caller_id and caller_id.endswith(">"):
        return caller_id.rsplit("<", 1)[1][:-1]
    return caller_id


async def _read_action(reader: asyncio.StreamReader) -> tuple[Packet | None, list[str]]:
    """One packet (None at EOF); repeated ``Variable`` headers are collected."""
    packet: Packet = {}
    variables: list[str] = []
    while True:
        line = await reader.readline()
        if not line:
            return None, variables
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            if packet:
                return packet, variables
            continue
        key, sep, value = text.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key.lower() == "variable":
            variables.extend(v for v in value.split(",") if v)
        else:
            packet[key] = value


async def run_dev_pbx(host: str, port: int, username: str, secret: str, cti_url: str,
                      stop: asyncio.Event, timing: SimTiming | None = None) -> None:
    """Serve until ``stop`` is set (``omnihub devpbx``)."""
    sim = PbxSimulator(username, secret, cti_url, timing=timing)
    bound = await sim.start(host, port)
    log.info("dev PBX: AMI on %s:%d, CTI events to %s", host, bound,
             cti_url.rsplit("/cti/", 1)[0] + "/cti/…/events")
    try:
        await stop.wait()
    finally:
        await sim.close()
