"""In Debian's chromium: Settings → SLA. An admin adds a policy; a bad target gets the
server's 422 reason next to that target's field and stores nothing; the fixed policy is
listed, a second one is moved before it, it is edited (a bad action queue is refused at
its field; actions and auto-close are stored) and deleted (each change a version)."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.browser import ARTIFACTS, PageErrors, login_as

pytestmark = [pytest.mark.browser]


async def test_admin_adds_edits_and_deletes_an_sla_policy(browser, hub, db):
    from playwright.async_api import expect

    errors = PageErrors()
    ARTIFACTS.mkdir(exist_ok=True)
    ctx, page = await login_as(browser, hub.base_url, errors, "admin@demo.omnihub.test",
                               "demo-admin")
    try:
        await page.goto(f"{hub.base_url}/admin")
        await page.get_by_test_id("tab-sla").click()
        await expect(page.get_by_test_id("sla-empty")).to_be_visible()
        form = page.get_by_test_id("sla-form")
        await form.get_by_test_id("sla-field-id").fill("vip")
        await form.get_by_test_id("sla-field-name").fill("VIP customers")
        await form.get_by_test_id("sla-field-when").fill('customer.tier == "vip"')
        await form.get_by_test_id("sla-field-calendar").select_option("support")
        await form.get_by_test_id("sla-field-first_response").fill("300")
        await form.get_by_test_id("sla-field-resolution").fill("0")
        await form.get_by_test_id("sla-save").click()
        error = form.get_by_test_id("sla-error-resolution")
        await expect(error).to_be_visible()
        await expect(error).to_contain_text("targets.resolution.seconds: must be >= 1")
        assert await db.fetchval("SELECT count(*) FROM sla_policy_versions") == 0

        await form.get_by_test_id("sla-field-resolution").fill("14400")
        await form.get_by_test_id("sla-save").click()
        await expect(page.get_by_test_id("flash")).to_contain_text("SLA policy vip saved")
        row = page.get_by_test_id("sla-table").locator("tr[data-policy=vip]")
        await expect(row).to_contain_text("VIP customers")
        await expect(row).to_contain_text("resolution 14400 s")
        await expect(row).to_contain_text("hours of support")
        await page.screenshot(path=str(ARTIFACTS / "admin-sla.png"))

        # A second policy goes last; "Move up" makes it the one tried first.
        await form.get_by_test_id("sla-field-id").fill("standard")
        await form.get_by_test_id("sla-field-first_response").fill("3600")
        await form.get_by_test_id("sla-save").click()
        rows = page.get_by_test_id("sla-table").locator("tbody tr")
        await expect(rows).to_have_count(2)
        await expect(rows.nth(1)).to_have_attribute("data-policy", "standard")
        await rows.nth(1).get_by_test_id("sla-move-up").click()
        await expect(rows.nth(0)).to_have_attribute("data-policy", "standard")
        await expect(rows.nth(1)).to_have_attribute("data-policy", "vip")

        await row.get_by_test_id("sla-edit").click()
        edit = page.get_by_test_id("sla-form")
        await expect(edit.get_by_test_id("sla-field-id")).to_be_disabled()
        await edit.get_by_test_id("sla-field-warning_percent").fill("75")
        # A target's actions as JSON: a bad queue is refused at that field.
        actions = edit.get_by_test_id("sla-field-resolution_actions")
        await actions.fill('[{"type": "escalate", "queue": "nope", "reason": "late"}]')
        await edit.get_by_test_id("sla-save").click()
        await expect(edit.get_by_test_id("sla-error-resolution_actions")).to_contain_text(
            "targets.resolution.actions[0].queue: unknown queue 'nope'")
        await actions.fill('[{"type": "escalate", "queue": "sales", "reason": "late"}]')
        await edit.get_by_test_id("sla-field-auto_close_days").fill("3")
        await edit.get_by_test_id("sla-save").click()
        await expect(row).to_contain_text("75 %")
        stored = (await db.fetchval("SELECT document FROM sla_policy_versions"
                                    " ORDER BY version DESC LIMIT 1"))
        vip = next(p for p in json.loads(stored)["policies"] if p["id"] == "vip")
        assert vip["targets"]["resolution"]["actions"] == [
            {"type": "escalate", "queue": "sales", "reason": "late"}]
        assert vip["auto_close"] == {"after_days": 3, "message": ""}
        await row.get_by_test_id("sla-delete").click()
        await expect(rows).to_have_count(1)
        await expect(rows.nth(0)).to_have_attribute("data-policy", "standard")
        versions = [r["version"] for r in await db.fetch(
            "SELECT version FROM sla_policy_versions ORDER BY version")]
        assert versions == [1, 2, 3, 4, 5]
    finally:
        await ctx.close()
    # The two 422s are the bad target and the bad action queue, on purpose.
    assert len([e for e in errors.errors if "status of 422" in e]) == 2
    assert [e for e in errors.errors if "status of 422" not in e] == []
