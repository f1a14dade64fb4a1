"""Voice in Debian's chromium (Playwright): the inbox call panel (screen pop with the
caller's context, the script, the wrap-up) and the demo shop's "Call me back" form with
its live status, against the live hub."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fixtures.browser import PageErrors, login_agent, open_shop
from tests.fixtures.helpers import eventually, new_id
from tests.fixtures.voice_calls import cti

pytestmark = [pytest.mark.browser]


async def test_call_panel_pops_with_context_script_and_wrapup(browser, hub, db):
    from playwright.async_api import expect

    errors = PageErrors()
    ctx, page = await login_agent(browser, hub.base_url, errors)
    contact = await db.fetchrow(
        "SELECT c.* FROM contacts c JOIN customer_accounts a ON a.contact_id = c.id"
        " WHERE c.phone LIKE '+49%' ORDER BY c.id LIMIT 1")
    call_id = new_id()
    base = {"callId": call_id, "direction": "in", "from": contact["phone"].lstrip("+"),
            "to": "493055571600", "user": ["Maya Schneider"], "queue": "support"}
    await cti(hub, {**base, "event": "newCall", "ivr": {"account": "AC-1", "language": "de"}})
    pop = page.get_by_test_id("call-panel")
    await expect(pop).to_be_visible()
    await expect(page.get_by_test_id("call-state")).to_have_text("Ringing")
    await expect(page.get_by_test_id("call-caller")).to_have_text(contact["name"])
    await expect(page.get_by_test_id("call-ivr")).to_contain_text("account: AC-1")
    # the queue's script, variables filled from the caller's context
    prompt = page.get_by_test_id("script-prompt")
    await expect(prompt).to_contain_text(contact["name"].split(" ")[0])
    await cti(hub, {**base, "event": "answer", "answeringNumber": "101"})
    await expect(page.get_by_test_id("call-state")).to_have_text("On call")
    await pop.get_by_role("button", name="Yes, green").click()
    await expect(prompt).to_have_text("Which devices cannot get online?")
    await cti(hub, {**base, "event": "hangup", "cause": "normalClearing"})
    await expect(page.get_by_test_id("call-state")).to_have_text("Call ended")
    await page.get_by_test_id("wrapup-disposition").select_option("resolved")
    await pop.get_by_role("button", name="Finish wrap-up").click()
    await expect(page.get_by_test_id("wrapup-done")).to_contain_text("resolved")
    row = await db.fetchrow("SELECT * FROM calls WHERE call_id = $1", call_id)
    assert row["disposition"] == "resolved"
    run = await db.fetchval("SELECT state FROM script_runs WHERE conversation_id = $1",
                            row["conversation_id"])
    assert json.loads(run)["answers"] == {"greet": "green"}
    assert errors.errors == []
    await ctx.close()


async def test_shop_call_me_back_shows_live_status(browser, hub, db):
    from playwright.async_api import expect

    errors = PageErrors()
    ctx, page = await open_shop(browser, hub.base_url, errors)
    await page.get_by_test_id("demo-call-me-back").click()
    phone = page.get_by_test_id("callback-phone")
    await expect(phone).to_be_visible()
    await phone.fill("12345")
    await page.get_by_test_id("callback-submit").click()
    await expect(page.get_by_test_id("callback-error")).to_contain_text("country code")
    await phone.fill("+49 30 901820")
    await page.get_by_test_id("callback-topic").fill("TV has no signal")
    await page.get_by_test_id("callback-submit").click()
    status = page.get_by_test_id("callback-status")
    await expect(status).to_contain_text("in the queue")
    cb = await eventually(lambda: db.fetchrow(
        "SELECT * FROM callbacks WHERE phone = '+4930901820' AND topic = 'TV has no signal'"))
    # an agent's attempt fails (no PBX here) permanently: the customer sees it live
    await db.execute("UPDATE callbacks SET status = 'failed', reason = 'x' WHERE id = $1",
                     cb["id"])
    await expect(status).to_contain_text("could not reach you")
    # the one 400 is the invalid number we submitted on purpose
    assert [e for e in errors.errors if "status of 400" not in e] == []
    await ctx.close()


async def test_agent_sees_a_waiting_callback_and_calls_now(browser, hub, db):
    from playwright.async_api import expect

    rid = new_id()
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        resp = await client.post("/api/v1/callbacks", json={
            "inbox": "phone", "phone": "+4930901899", "topic": "Upgrade", "request_id": rid},
            headers={"Origin": "https://shop.example"})
        assert resp.status_code == 202
    cb = await eventually(lambda: db.fetchrow(
        "SELECT * FROM callbacks WHERE source_key = $1", f"widget:{rid}"))
    errors = PageErrors()
    ctx, page = await login_agent(browser, hub.base_url, errors)
    await page.goto(f"{hub.base_url}/inbox#/conversations/{cb['conversation_id']}")
    item = page.get_by_test_id("callback-item")
    await expect(item).to_contain_text("+4930901899")
    await expect(item).to_contain_text("Upgrade")
    await page.get_by_test_id("call-now").click()
    await expect(page.get_by_test_id("callback-item-status")).to_contain_text("Dialing")
    assert errors.errors == []
    await ctx.close()
