"""In Debian's chromium: Settings → Bots. An admin creates a bot (a bad webhook URL gets
the server's reason inline; the token and signing secret are shown once), puts it in
front of a queue, rotates its token (the old one stops working), and disables it."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.browser import ARTIFACTS, PageErrors, login_as

pytestmark = [pytest.mark.browser]


async def _rest(hub, token: str) -> int:
    async with httpx.AsyncClient(base_url=hub.base_url) as client:
        r = await client.get("/api/v1/bot/conversations",
                             headers={"Authorization": f"Bearer {token}"})
        return r.status_code


async def test_admin_manages_a_bot_in_settings(browser, hub, db):
    from playwright.async_api import expect

    errors = PageErrors()
    ARTIFACTS.mkdir(exist_ok=True)
    ctx, page = await login_as(browser, hub.base_url, errors, "admin@demo.omnihub.test",
                             "demo-admin")
    await page.goto(f"{hub.base_url}/admin")
    await page.get_by_test_id("tab-bots").click()
    new = page.get_by_test_id("new-bot")
    await new.get_by_test_id("bot-field-name").fill("Helper")
    await new.get_by_test_id("bot-field-webhook_url").fill("ftp://bots.example/hook")
    await new.get_by_role("button", name="Create bot").click()
    await expect(new.get_by_test_id("form-error")).to_contain_text("webhook_url")
    assert await db.fetchval("SELECT count(*) FROM bots") == 0
    await new.get_by_test_id("bot-field-webhook_url").fill("https://bots.example/hook")
    await new.get_by_role("button", name="Create bot").click()
    await expect(page.get_by_test_id("flash")).to_contain_text("Helper created")
    token = await page.get_by_test_id("bot-secret-token").inner_text()
    secret = await page.get_by_test_id("bot-secret-webhook_secret").inner_text()
    assert token.startswith("ohb_") and secret.startswith("ohs_")
    assert await _rest(hub, token) == 200
    stored = await db.fetchrow("SELECT webhook_url, webhook_secret, handoff_after_s FROM bots")
    assert tuple(stored) == ("https://bots.example/hook", secret, 120)

    detail = page.get_by_test_id("bot-detail")
    await detail.get_by_test_id("bot-field-queue").select_option("support")
    await detail.get_by_role("button", name="Put in front of this queue").click()
    row = page.get_by_test_id("bot-table").locator("tr[data-bot]", has_text="Helper")
    await expect(row).to_contain_text("support")
    assert await db.fetchval("SELECT bot_id FROM queues WHERE slug = 'support'") is not None

    await detail.get_by_test_id("bot-field-handoff_after_s").fill("45")
    await detail.get_by_role("button", name="Save bot").click()
    await expect(row).to_contain_text("45 s")

    rotate = page.get_by_test_id("bot-rotate")
    await rotate.get_by_role("button", name="Rotate").click()
    await expect(page.get_by_test_id("flash")).to_contain_text("New token made")
    await expect(page.get_by_test_id("bot-secret-token")).not_to_have_text(token)
    await expect(page.get_by_test_id("bot-secrets")).not_to_contain_text("webhook_secret")
    new_token = await page.get_by_test_id("bot-secret-token").inner_text()
    assert new_token != token
    assert await _rest(hub, token) == 401
    assert await _rest(hub, new_token) == 200

    await page.get_by_test_id("bot-toggle").click()
    await expect(page.get_by_test_id("flash")).to_contain_text("Helper disabled")
    await expect(row).to_contain_text("disabled")
    assert await _rest(hub, new_token) == 401
    await page.screenshot(path=str(ARTIFACTS / "admin-bots.png"))
    await page.get_by_test_id("bot-toggle").click()
    await expect(row).to_contain_text("active")
    actions = [r["action"] for r in await db.fetch("SELECT action FROM audit_log"
                                                   " WHERE action LIKE 'bot.%' ORDER BY id")]
    assert actions == ["bot.create", "bot.update", "bot.token_rotate", "bot.disable",
                       "bot.enable"]
    await ctx.close()
    # The one 400 is the bad webhook URL, on purpose.
    assert len([e for e in errors.errors if "status of 400" in e]) == 1
    assert [e for e in errors.errors if "status of 400" not in e] == []
