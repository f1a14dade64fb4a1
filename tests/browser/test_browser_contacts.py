"""In Debian's chromium: the 360° panel shows one timeline across channels and merges a
duplicate contact by id (skips locally without chromium, fails in CI)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from hub.conversations.store.persist import persist_inbound_batch
from hub.schema import Envelope, Identity
from tests.fixtures.browser import ARTIFACTS, PageErrors, login_agent

pytestmark = [pytest.mark.browser]
_pids = itertools.count(1)


def _env(channel: str, inbox: str, key: str, text: str, claims: tuple[str, ...] = ()
         ) -> Envelope:
    def ident(k: str) -> Identity:
        kind, _, value = k.partition(":")
        return Identity(kind=kind, value=value)  # type: ignore[arg-type]
    return Envelope(channel=channel, channel_account=inbox,  # type: ignore[arg-type]
                    provider_id=f"b{next(_pids)}", sender=ident(key), text=text,
                    claims=tuple(ident(c) for c in claims), received_at=datetime.now(UTC))


async def test_timeline_and_merge_in_the_inbox(browser, hub, db):
    from playwright.async_api import expect

    anna = await db.fetchrow("SELECT id, email FROM contacts ORDER BY id LIMIT 1")
    async with db.acquire() as conn, conn.transaction():
        await persist_inbound_batch(conn, [
            ("1-0", _env("chat", "web", f"email:{anna['email']}", "chat: my router blinks")),
            ("2-0", _env("email", "mail", f"email:{anna['email']}", "email: about my invoice")),
            ("3-0", _env("chat", "web", "visitor:anon-b", "anon: also me, on my phone",
                         claims=(f"email:{anna['email']}",))),
        ])
    chat_conv = await db.fetchval(
        "SELECT id FROM conversations WHERE contact_id = $1 AND inbox = 'web'", anna["id"])
    other = await db.fetchval("SELECT contact_id FROM identities WHERE value = 'anon-b'")

    errors = PageErrors()
    ctx, page = await login_agent(browser, hub.base_url, errors)
    page.on("dialog", lambda d: d.accept())
    await page.goto(f"{hub.base_url}/inbox#/conversations/{chat_conv}")
    timeline = page.get_by_test_id("timeline-item")
    await expect(timeline).to_have_count(2)
    await expect(page.locator("[data-testid=timeline-item][data-channel=email]")).to_have_count(1)
    await expect(page.locator("[data-testid=timeline-item][data-channel=chat]")).to_have_count(1)
    suggestion = page.locator(f"[data-testid=merge-suggestion][data-contact='{other}']")
    await expect(suggestion).to_be_visible()

    # A suggestion rests on a typed claim: no one-click merge; the agent merges by id.
    await expect(suggestion.get_by_role("button")).to_have_count(0)
    await page.get_by_test_id("merge-id").fill(str(other))
    await page.get_by_test_id("merge-submit").click()
    await expect(timeline).to_have_count(5)  # + the visitor's message and two merge notes
    await expect(page.locator("[data-testid=identity][data-key='visitor:anon-b']")).to_be_visible()
    await expect(page.get_by_test_id("merge-suggestion")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "contact-merge.png"))
    assert await db.fetchval("SELECT merged_into FROM contacts WHERE id = $1", other) == anna["id"]
    await ctx.close()
    assert errors.errors == []
