"""The make-dev mail sink and /dev/mailbox: an agent reply goes through the worker to the
real sink (aiosmtpd, Maildir on disk) and is listed, escaped, for signed-in agents only;
the page does not exist unless the sink is configured."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import msgspec
import pytest

from channels.email.dev_sink import read_mailbox, run_dev_sink
from tests.fixtures.helpers import agent_http, login
from tests.fixtures.mail import CUSTOMER, agent_reply, email_conversation, job_ctx
from tests.fixtures.ports import ReservedPort
from workers.delivery import deliver_message


@pytest.fixture
def relay_port():
    reserved = ReservedPort()
    yield reserved
    reserved.close()


@pytest.fixture
def settings(settings, tmp_path, relay_port):
    """The hub of these tests runs with the dev sink as its relay, as `omnihub dev` sets."""
    return msgspec.structs.replace(
        settings, dev_mailbox_dir=str(tmp_path / "mailbox"), smtp_relay_host="127.0.0.1",
        smtp_relay_port=relay_port.port, smtp_relay_security="none", smtp_timeout_s=10.0)


@pytest.fixture
async def sink(settings, relay_port):
    stop = asyncio.Event()
    task = asyncio.create_task(run_dev_sink(settings.smtp_relay_host, settings.smtp_relay_port,
                                            Path(settings.dev_mailbox_dir), stop,
                                            sock=relay_port.listening()))
    async with asyncio.timeout(10):
        while True:  # listening?
            with contextlib.suppress(OSError):
                _, w = await asyncio.open_connection("127.0.0.1", settings.smtp_relay_port)
                w.close()
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
    yield Path(settings.dev_mailbox_dir)
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_reply_lands_in_the_dev_mailbox_and_is_listed(hub, db, redis, sink):
    cid = await email_conversation(db, subject="<script>alert(1)</script> router")
    msg = await agent_reply(hub, cid, "Restart it & wait <b>2</b> minutes.")
    assert await deliver_message(job_ctx(db, redis, hub.settings), msg["id"]) == "sent"
    kept = read_mailbox(sink)
    assert len(kept) == 1
    assert kept[0].envelope_to == CUSTOMER
    assert kept[0].envelope_from == "support@demo.omnihub.test"
    cookie = await login(hub.base_url)
    async with agent_http(hub.base_url, cookie) as client:
        page = await client.get("/dev/mailbox")
        listed = await client.get("/dev/mailbox.json")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    text = page.text
    assert "Re: &lt;script&gt;alert(1)&lt;/script&gt; router" in text and "<script>" not in text
    assert "Restart it &amp; wait &lt;b&gt;2&lt;/b&gt; minutes." in text
    assert CUSTOMER in text and "support@demo.omnihub.test" in text and "In-Reply-To" in text
    mails = listed.json()["messages"]
    assert [m["subject"] for m in mails] == ["Re: <script>alert(1)</script> router"]
    headers = dict(mails[0]["headers"])
    assert headers["In-Reply-To"] == "<c1@customer.test>" and "Reply-To" in headers
    assert mails[0]["text"].replace("\r\n", "\n").strip() == "Restart it & wait <b>2</b> minutes."


async def test_dev_mailbox_needs_a_signed_in_agent(hub, sink):
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        page = await client.get("/dev/mailbox")
        listed = await client.get("/dev/mailbox.json")
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert listed.status_code == 401 and "error" in listed.json()


async def test_the_sink_listens_on_loopback_only(tmp_path):
    with pytest.raises(ValueError, match="loopback"):
        await run_dev_sink("0.0.0.0", 0, tmp_path / "m", asyncio.Event())
