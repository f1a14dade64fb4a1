"""Click-to-call: "Call me back" from the widget edge through the pipeline to a callback
work item; originate via Asterisk AMI and the Twilio Calls API against local fakes
over real TCP/HTTP; Twilio status callbacks verified with the shared signature code;
the customer's status view; "Call now" through a real arq worker."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx
from arq.worker import create_worker

from channels.twilio.signature import compute_signature
from hub.outbox import Publisher
from tests.fixtures.helpers import agent_http, eventually, login, new_id
from tests.fixtures.voice import FakeAmi, fake_twilio
from tests.fixtures.voice_calls import ask_callback, status_of, stored_callback, worker_ctx
from workers.main import make_worker_settings
from workers.voice import originate_callback

AGENT2 = ("agent2@demo.omnihub.test", "demo-agent")


async def test_call_me_back_validates_and_creates_one_callback_item(hub, db):
    bad = await ask_callback(hub, phone="12345")
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_phone"
    assert "country code" in bad.json()["reason"]
    assert (await ask_callback(hub, phone="+4930901820", request_id="nope")).status_code == 400
    assert (await ask_callback(hub, topic="x" * 300)).status_code == 400
    rid = new_id()
    for _ in range(3):  # a double click, a retry: one callback
        resp = await ask_callback(hub, request_id=rid, name="Jo Caller")
        assert resp.status_code == 202
        assert resp.json()["phone"] == "+4930901820"
    cb = await stored_callback(db, rid)
    assert (cb["status"], cb["phone"], cb["topic"], cb["source"]) == (
        "requested", "+4930901820", "Router broken", "widget")
    item = await db.fetchrow("SELECT * FROM work_items WHERE id = $1", cb["work_item_id"])
    assert (item["status"], item["channel"], item["queue"]) == ("queued", "voice", "support")
    conv = await db.fetchrow("SELECT * FROM conversations WHERE id = $1", cb["conversation_id"])
    assert conv["inbox"] == "phone"
    texts = await db.fetch("SELECT text FROM messages WHERE conversation_id = $1", conv["id"])
    assert [t["text"] for t in texts] == [
        "Callback requested to +4930901820 — topic: Router broken"]
    await asyncio.sleep(0.3)
    assert await db.fetchval("SELECT count(*) FROM callbacks WHERE source_key = $1",
                             f"widget:{rid}") == 1
    assert (await status_of(hub, rid))["status"] == "requested"
    assert (await status_of(hub, new_id()))["status"] == "received"  # unknown: nothing leaks


async def test_call_me_back_is_limited_per_number_but_retries_are_free(hub, db):
    rids = [new_id() for _ in range(3)]
    for rid in rids:
        assert (await ask_callback(hub, phone="+49 30 901829", request_id=rid)).status_code == 202
    refused = await ask_callback(hub, phone="+49 30 901829")
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= hub.settings.callback_limit_window_s
    # A retry of an admitted request is not a new request; another number is unaffected.
    assert (await ask_callback(hub, phone="+49 30 901829", request_id=rids[0])).status_code == 202
    other = new_id()
    assert (await ask_callback(hub, phone="+49 30 901828", request_id=other)).status_code == 202
    await stored_callback(db, other)
    for rid in rids:
        await stored_callback(db, rid)
    assert await db.fetchval("SELECT count(*) FROM callbacks WHERE phone = $1",
                             "+4930901829") == 3


async def test_rate_limit_refusal_counts_against_no_counter(redis, settings):
    from hub.errors import RateLimited
    from web.rate_limit import admit_or_refuse

    p = settings.key_prefix + "rl:test:"
    counters = [(p + "phone", 2), (p + "client", 3)]
    await admit_or_refuse(redis, p + "r1", counters, 60, "requests")
    await admit_or_refuse(redis, p + "r2", counters, 60, "requests")
    try:
        await admit_or_refuse(redis, p + "r3", counters, 60, "requests")
        raise AssertionError("the third distinct request was admitted")
    except RateLimited as exc:
        assert 1 <= exc.retry_after_s <= 60
    # The refusal left the client counter at 2: one more number may still pass.
    assert int(await redis.get(p + "client")) == 2
    await admit_or_refuse(redis, p + "r4", [(p + "phone2", 2), (p + "client", 3)], 60, "x")
    try:
        await admit_or_refuse(redis, p + "r5", [(p + "phone3", 2), (p + "client", 3)], 60, "x")
        raise AssertionError("the client limit was not applied")
    except RateLimited:
        pass
    await admit_or_refuse(redis, p + "r1", counters, 60, "requests")  # a retry passes
    assert 0 < await redis.pttl(p + "client") <= 60_000


async def configure(db: Any, kind: str, config: dict[str, Any]) -> None:
    await db.execute(
        "INSERT INTO voice_originators (inbox, kind, config) VALUES ('phone', $1, $2::jsonb)"
        " ON CONFLICT (inbox) DO UPDATE SET kind = excluded.kind, config = excluded.config",
        kind, json.dumps(config))


async def test_originate_via_asterisk_ami_agent_leg_first(hub, db, redis):
    rid = new_id()
    await ask_callback(hub, request_id=rid)
    cb = await stored_callback(db, rid)
    agent1 = hub.seed["agents"]["agent1@demo.omnihub.test"]
    async with FakeAmi() as ami, httpx.AsyncClient() as http:
        await configure(db, "ami", {"host": "127.0.0.1", "port": ami.port,
                                    "username": "omnihub", "secret": "s3cret",
                                    "context": "from-internal", "channel": "PJSIP/{extension}",
                                    "caller_id": "Support <493055571600>"})
        ctx = worker_ctx(hub, db, redis, http)
        assert await originate_callback(ctx, cb["work_item_id"], agent1) == "connected"
        # a second run (duplicate acceptance) dials nothing
        assert await originate_callback(ctx, cb["work_item_id"], agent1) == "nothing to dial"
    login_pkt, originate, logoff = ami.packets
    assert login_pkt["Action"] == "Login" and login_pkt["Username"] == "omnihub"
    assert originate["Action"] == "Originate"
    assert originate["Channel"] == "PJSIP/101"          # the agent's phone rings first
    assert originate["Exten"] == "4930901820"           # then the dialplan calls the customer
    assert originate["Context"] == "from-internal" and originate["Async"] == "true"
    assert originate["ActionID"] == f"omnihub-cb-{cb['id']}-1"
    assert f"OMNIHUB_CALLBACK={cb['id']}" in originate["Variable"]
    assert logoff["Action"] == "Logoff"
    row = await db.fetchrow("SELECT * FROM callbacks WHERE id = $1", cb["id"])
    assert (row["status"], row["agent_id"], row["attempts"], row["provider_call_id"]) == (
        "connected", agent1, 1, "1732900000.42")
    item = await db.fetchrow("SELECT * FROM work_items WHERE id = $1", cb["work_item_id"])
    assert (item["status"], item["agent_id"]) == ("assigned", agent1)
    assert (await status_of(hub, rid))["status"] == "connected"


async def test_ami_failures_requeue_or_fail_with_the_reason(hub, db, redis):
    agent1 = hub.seed["agents"]["agent1@demo.omnihub.test"]
    rid = new_id()
    await ask_callback(hub, request_id=rid)
    cb = await stored_callback(db, rid)
    async with FakeAmi(originate_result=("Failure", "5")) as ami, httpx.AsyncClient() as http:
        await configure(db, "ami", {"host": "127.0.0.1", "port": ami.port,
                                    "username": "omnihub", "secret": "s3cret"})
        ctx = worker_ctx(hub, db, redis, http)
        # the agent's phone was busy: waiting again, still the agent's item (a failed
        # dial never undoes their "Assign to me"), with the reason as a stable code
        assert await originate_callback(ctx, cb["work_item_id"], agent1) == "requested"
        row = await db.fetchrow("SELECT * FROM callbacks WHERE id = $1", cb["id"])
        assert (row["status"], row["attempts"], row["reason"]) == ("requested", 1,
                                                                   "agent_busy")
        item = await db.fetchrow("SELECT * FROM work_items WHERE id = $1", cb["work_item_id"])
        assert (item["status"], item["agent_id"]) == ("assigned", agent1)
        await configure(db, "ami", {"host": "127.0.0.1", "port": ami.port,
                                    "username": "omnihub", "secret": "wrong"})
        assert await originate_callback(ctx, cb["work_item_id"], agent1) == "failed"
    row = await db.fetchrow("SELECT * FROM callbacks WHERE id = $1", cb["id"])
    assert (row["status"], row["reason"]) == ("failed", "pbx_login_refused")
    status = await status_of(hub, rid)
    assert status["status"] == "failed" and status["final"] is True
    assert "login" not in status["reason"]  # internals never reach the customer
    # unreachable AMI is transient: requeued
    rid2 = new_id()
    await ask_callback(hub, request_id=rid2, phone="+4930901821")
    cb2 = await stored_callback(db, rid2)
    await configure(db, "ami", {"host": "127.0.0.1", "port": 1, "username": "x", "secret": "y"})
    async with httpx.AsyncClient() as http:
        ctx = worker_ctx(hub, db, redis, http)
        assert await originate_callback(ctx, cb2["work_item_id"], agent1) == "requested"
    # Agents see a short message and the code, never the exception text.
    async with agent_http(hub.base_url, await login(hub.base_url)) as agent:
        listed = (await agent.get(
            f"/api/v1/conversations/{cb2['conversation_id']}/callbacks")).json()["callbacks"]
    (view,) = [c for c in listed if c["id"] == cb2["id"]]
    assert view["reason_code"] == "pbx_unreachable"
    assert view["reason"] == "The phone system cannot be reached right now."
    assert "127.0.0.1" not in json.dumps(listed) and "Error" not in json.dumps(listed)


async def twilio_post(hub: Any, token: str, query: str, params: dict[str, str],
                      signature: str | None = None) -> httpx.Response:
    url = f"{hub.base_url}/twilio/voice/phone/status?{query}"
    sig = signature or compute_signature(token, url, sorted(params.items()))
    async with httpx.AsyncClient() as client:
        return await client.post(url, data=params, headers={"X-Twilio-Signature": sig})


async def test_originate_via_twilio_and_status_callbacks(hub, db, redis):
    rid = new_id()
    await ask_callback(hub, request_id=rid, phone="+12025550123")
    cb = await stored_callback(db, rid)
    agent1 = hub.seed["agents"]["agent1@demo.omnihub.test"]
    async with fake_twilio() as tw, httpx.AsyncClient() as http:
        await configure(db, "twilio", {"account_sid": tw.account_sid,
                                       "auth_token": tw.auth_token, "caller_id": "+12025550100",
                                       "agent_to": "client:agent{extension}",
                                       "api_base": tw.base})
        ctx = worker_ctx(hub, db, redis, http)
        assert await originate_callback(ctx, cb["work_item_id"], agent1) == "dialing"
    (req,) = tw.requests
    assert req["path"] == f"/2010-04-01/Accounts/{tw.account_sid}/Calls.json"
    assert req["auth"] == (tw.account_sid, tw.auth_token)
    form = req["form"]
    fields = dict(form)
    assert fields["To"] == "client:agent101"      # agent leg first
    assert fields["From"] == "+12025550100"
    assert "<Number>+12025550123</Number>" in fields["Twiml"]
    assert fields["StatusCallback"] == (f"{hub.base_url}/twilio/voice/phone/status"
                                        f"?callback={cb['id']}")
    assert [v for k, v in form if k == "StatusCallbackEvent"] == [
        "initiated", "ringing", "answered", "completed"]
    sid = (await db.fetchrow("SELECT * FROM callbacks WHERE id = $1", cb["id"]))[
        "provider_call_id"]
    assert sid.startswith("CA")
    assert (await status_of(hub, rid))["status"] == "dialing"

    base = {"CallSid": sid, "AccountSid": tw.account_sid, "From": "+12025550100",
            "To": "client:agent101", "Direction": "outbound-api", "ApiVersion": "2010-04-01",
            "CallbackSource": "call-progress-events"}
    query = f"callback={cb['id']}"
    bad = await twilio_post(hub, tw.auth_token, query, {**base, "CallStatus": "ringing"},
                            signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    assert bad.status_code == 403
    forged = await twilio_post(hub, "not-the-token", query, {**base, "CallStatus": "completed"})
    assert forged.status_code == 403
    for seq, status in enumerate(["initiated", "ringing", "in-progress", "completed"]):
        params = {**base, "CallStatus": status, "SequenceNumber": str(seq)}
        if status == "completed":
            params["CallDuration"] = "42"
        resp = await twilio_post(hub, tw.auth_token, query, params)
        assert resp.status_code == 200, resp.text
    call = await eventually(lambda: db.fetchrow(
        "SELECT * FROM calls WHERE call_id = $1 AND state = 'completed'", sid))
    assert (call["direction"], call["to_number"], call["agent_id"], call["callback_id"]) == (
        "out", "+12025550123", agent1, cb["id"])
    assert call["conversation_id"] == cb["conversation_id"]
    done = await eventually(lambda: db.fetchrow(
        "SELECT * FROM callbacks WHERE id = $1 AND status = 'completed'", cb["id"]))
    assert done["provider_call_id"] == sid
    assert (await status_of(hub, rid))["status"] == "completed"


async def test_twilio_refusal_fails_the_callback_with_the_reason(hub, db, redis):
    rid = new_id()
    await ask_callback(hub, request_id=rid)
    cb = await stored_callback(db, rid)
    agent1 = hub.seed["agents"]["agent1@demo.omnihub.test"]
    async with fake_twilio() as tw, httpx.AsyncClient() as http:
        tw.fail_with = 400
        await configure(db, "twilio", {"account_sid": tw.account_sid,
                                       "auth_token": tw.auth_token, "caller_id": "+12025550100",
                                       "api_base": tw.base})
        assert await originate_callback(worker_ctx(hub, db, redis, http), cb["work_item_id"],
                                        agent1) == "failed"
    row = await db.fetchrow("SELECT * FROM callbacks WHERE id = $1", cb["id"])
    assert row["reason"] == "provider_refused"  # Twilio's words go to the log only


async def test_call_now_enqueues_the_job_a_real_worker_dials(hub, db, redis):
    rid = new_id()
    await ask_callback(hub, request_id=rid)
    cb = await stored_callback(db, rid)
    async with FakeAmi() as ami:
        await configure(db, "ami", {"host": "127.0.0.1", "port": ami.port,
                                    "username": "omnihub", "secret": "s3cret"})
        async with agent_http(hub.base_url, await login(hub.base_url)) as agent:
            listed = (await agent.get(
                f"/api/v1/conversations/{cb['conversation_id']}/callbacks")).json()
            assert [c["id"] for c in listed["callbacks"]] == [cb["id"]]
            resp = await agent.post(f"/api/v1/callbacks/{cb['id']}/call")
            assert resp.status_code == 202, resp.text
            again = await agent.post(f"/api/v1/callbacks/{cb['id']}/call")
            assert again.status_code == 202  # same job id: enqueued once
        worker = create_worker(make_worker_settings(hub.settings), burst=True,
                               poll_delay=0.02, handle_signals=False, cron_jobs=[])
        try:
            async with asyncio.timeout(60):
                await worker.main()
        finally:
            await worker.close()
        assert [p["Action"] for p in ami.packets].count("Originate") == 1
    row = await db.fetchrow("SELECT * FROM callbacks WHERE id = $1", cb["id"])
    assert row["status"] == "connected"
    # once taken, another agent cannot dial it; nor can anyone dial it again
    async with agent_http(hub.base_url, await login(hub.base_url, AGENT2)) as other:
        resp = await other.post(f"/api/v1/callbacks/{cb['id']}/call")
        assert resp.status_code == 403


async def test_router_acceptance_hook_enqueues_and_worker_dials(hub, db, redis):
    """The router emits workitem.accepted after commit; the worker's consumer group
    reacts with the originate job (docs/routing.md, docs/voice.md)."""
    from datetime import UTC, datetime

    from hub.jobs import originate_job_id
    from hub.schema import WorkItemAccepted
    from workers.voice import HOOK_GROUP, watch_acceptances

    rid = new_id()
    await ask_callback(hub, request_id=rid)
    cb = await stored_callback(db, rid)
    attrs = json.loads(await db.fetchval("SELECT attributes FROM work_items WHERE id = $1",
                                         cb["work_item_id"]))
    assert attrs["kind"] == "callback" and attrs["topic"] == "Router broken"
    agent2 = hub.seed["agents"]["agent2@demo.omnihub.test"]
    from arq.connections import ArqRedis
    arq = ArqRedis(connection_pool=redis.connection_pool)
    ctx = {"settings": hub.settings, "redis_plain": redis, "redis": arq}
    task = asyncio.create_task(watch_acceptances(ctx, block_ms=100))
    try:
        async def group_ready() -> bool:
            groups = await redis.xinfo_groups(hub.settings.events_stream)
            return any(g["name"] == HOOK_GROUP.encode() for g in groups)
        await eventually(group_ready)
        pub = Publisher(redis, hub.settings)
        other = WorkItemAccepted(inbox="web", conversation_id=1, work_item_id=999_999,
                                 agent_id=agent2, queue="support", channel="chat")
        event = WorkItemAccepted(inbox="phone", conversation_id=cb["conversation_id"],
                                 work_item_id=cb["work_item_id"], agent_id=agent2,
                                 queue="support", channel="voice")
        from hub.schema import encode
        await pub.publish([(None, encode(other), other), (None, encode(event), event)])
        job_key = f"arq:job:{originate_job_id(hub.settings, cb['work_item_id'], agent2)}"
        await eventually(lambda: redis.exists(job_key))
        chat_key = f"arq:job:{originate_job_id(hub.settings, 999_999, agent2)}"
        assert not await redis.exists(chat_key)  # only voice items dial
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    async with FakeAmi() as ami:
        await configure(db, "ami", {"host": "127.0.0.1", "port": ami.port,
                                    "username": "omnihub", "secret": "s3cret"})
        worker = create_worker(make_worker_settings(hub.settings), burst=True,
                               poll_delay=0.02, handle_signals=False, cron_jobs=[])
        try:
            async with asyncio.timeout(60):
                await worker.main()
        finally:
            await worker.close()
        originate = next(p for p in ami.packets if p["Action"] == "Originate")
        assert originate["Channel"] == "PJSIP/102"  # agent2's phone first
    row = await db.fetchrow("SELECT * FROM callbacks WHERE id = $1", cb["id"])
    assert (row["status"], row["agent_id"]) == ("connected", agent2)
    assert datetime.now(UTC) > row["updated_at"]
