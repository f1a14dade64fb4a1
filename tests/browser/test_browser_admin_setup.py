"""In Debian's chromium: Settings says what is missing for a new agent and a new chat
inbox, and the admin fixes every item on the page: the inbox's members and allowed
origins, the agent's routing profile (a bad level shows the routing API's reason
inline). Skips locally without chromium, fails in CI."""

from __future__ import annotations

import pytest

from tests.fixtures.browser import ARTIFACTS, PageErrors, login_as

pytestmark = [pytest.mark.browser]

async def test_settings_shows_what_is_missing_and_fixes_it(browser, hub, db):
    from playwright.async_api import expect

    errors = PageErrors()
    ctx, page = await login_as(browser, hub.base_url, errors, "admin@demo.omnihub.test",
                             "demo-admin")
    try:
        await page.goto(f"{hub.base_url}/admin")
        await expect(page.locator("body[data-ready=true]")).to_have_count(1)
        # A new agent, as an admin makes one today: no inboxes, no routing profile.
        await page.locator(".admin-tabs [data-tab=agents]").click()
        new = page.get_by_test_id("new-agent")
        await new.get_by_test_id("field-name").fill("Nora New")
        await new.get_by_test_id("field-email").fill("nora@demo.omnihub.test")
        await new.get_by_test_id("field-password").fill("a-long-password")
        await new.get_by_role("button", name="Create agent").click()
        missing = page.get_by_test_id("agent-missing")
        await expect(missing.locator("[data-code=no_queues]")).to_contain_text(
            "will never receive work")
        await expect(missing.locator("[data-code=no_inboxes]")).to_be_visible()
        nora = await db.fetchval("SELECT id FROM agents WHERE email = 'nora@demo.omnihub.test'")
        row = page.get_by_test_id("agent-table").locator(f"tr[data-agent='{nora}']")
        await expect(row.get_by_test_id("setup-pill")).to_have_text("2 missing")

        # A new chat inbox: no members, no allowed origins.
        await page.locator(".admin-tabs [data-tab=inboxes]").click()
        create = page.get_by_test_id("new-inbox")
        await create.get_by_test_id("field-slug").fill("shop2")
        await create.get_by_test_id("field-name").fill("Shop 2")
        await create.get_by_test_id("field-channel").select_option("chat")
        await create.get_by_role("button", name="Create inbox").click()
        inbox_missing = page.get_by_test_id("inbox-missing")
        await expect(inbox_missing.locator("[data-code=no_members]")).to_be_visible()
        await expect(inbox_missing.locator("[data-code=no_origins]")).to_contain_text(
            "only works on this hub's own pages")
        members = page.get_by_test_id("members-form")
        await members.get_by_label("Nora New").check()
        await members.get_by_role("button", name="Save members").click()
        await expect(inbox_missing.locator("[data-code=no_members]")).to_have_count(0)
        edit = page.get_by_test_id("edit-inbox")
        await edit.get_by_test_id("field-allowed_origins").fill("https://shop2.example")
        await edit.get_by_role("button", name="Save").click()
        await expect(page.get_by_test_id("inbox-missing")).to_have_attribute(
            "data-complete", "true")

        # Nora's routing profile: a bad level is refused inline, then queues fix her.
        await page.locator(".admin-tabs [data-tab=agents]").click()
        await page.get_by_test_id("agent-table").locator(f"tr[data-agent='{nora}']").click()
        await expect(page.get_by_test_id("agent-missing").locator(
            "[data-code=no_inboxes]")).to_have_count(0)  # shop2 made her a member
        routing = page.get_by_test_id("routing-form")
        await routing.get_by_label("support").check()
        await routing.get_by_test_id("field-skills").fill("billing=99")
        await routing.get_by_role("button", name="Save routing profile").click()
        await expect(routing.get_by_test_id("form-error")).to_contain_text("profile.skills")
        await routing.get_by_test_id("field-skills").fill("billing=7")
        await routing.get_by_test_id("field-languages").fill("de, en")
        await routing.get_by_role("button", name="Save routing profile").click()
        await expect(page.get_by_test_id("agent-missing")).to_have_attribute(
            "data-complete", "true")
        await expect(row.get_by_test_id("setup-pill")).to_have_text("ready")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "admin-setup.png"), full_page=True)
    finally:
        await ctx.close()
    # The refused profile is the one failed request the page made.
    assert len([e for e in errors.errors if "status of 422" in e]) == 1
    assert [e for e in errors.errors if "status of 422" not in e] == []
