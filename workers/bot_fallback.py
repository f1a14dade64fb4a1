"""The stuck-bot sweep (docs/bots.md "Stuck bots"): no customer is left with a dead bot.

Every few seconds (arq cron) each conversation held by a bot is checked, and handed to
the humans of its item's queue when:

- the bot is disabled (a pipeline batch that raced the disable) → "bot disabled";
- the bot cannot be reached: no live socket and a webhook delivery for this
  conversation failed (and the bot has not replied there since), or neither a live socket nor a webhook for longer than
  ``bot_unreachable_grace_s`` → "bot did not respond (…)";
- the customer has waited longer than the bot's ``handoff_after_s`` (0 = never) for a
  reply or hand-off since their first message after the bot's last reply →
  "bot did not respond (…)".

Idempotent and safe with several workers: each hand-off is ``hub.bots.actions.bots.release_held``,
which locks the conversation and moves the item only if the bot still holds it, so two
sweepers hand a conversation off once."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hub.bots.actions.admin import DISABLED_REASON
from hub.bots.actions.bots import release_held
from hub.bots.presence import bots_with_sockets
from hub.bots.store.fallback import held_by_bots
from hub.unit_of_work import unit_of_work

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("omnihub.botfallback")

NO_RESPONSE = "bot did not respond"

def fallback_reason(row: dict[str, Any], live_socket: bool, grace_s: float) -> str | None:
    """Why this held conversation must go to humans now, or None (pure; unit-tested)."""
    if not row["active"]:
        return DISABLED_REASON
    if not live_socket:
        if row["hook_failed"]:
            return f"{NO_RESPONSE} (webhook delivery failed)"
        if not row["has_hook"] and row["held_s"] > grace_s:
            return f"{NO_RESPONSE} (no live socket or webhook)"
    after = row["handoff_after_s"]
    waiting = row["waiting_s"]
    if after > 0 and waiting is not None and waiting > after:
        return f"{NO_RESPONSE} (no reply within {after} s)"
    return None


async def sweep_stuck_bots(ctx: dict[str, Any]) -> int:
    """One pass; returns how many conversations this pass handed off."""
    pool: asyncpg.Pool = ctx["pool"]
    settings = ctx["settings"]
    rows = [dict(r) for r in await held_by_bots(pool)]
    if not rows:
        return 0
    live = await bots_with_sockets(ctx["redis"], settings, {r["bot_id"] for r in rows})
    handed = 0
    for row in rows:
        reason = fallback_reason(row, row["bot_id"] in live,
                                 settings.bot_unreachable_grace_s)
        if reason is None:
            continue
        async with unit_of_work(pool, ctx["publisher"]) as uow:
            async with uow.transaction() as conn:
                published = await release_held(
                    conn, row["bot_id"], row["conversation_id"], reason=reason,
                    actor_id=None, cause="disabled" if reason == DISABLED_REASON else "sweep")
                if published is not None:
                    uow.adopt(published)
        if published is not None:
            handed += 1
            log.info("bot %d: conversation %d handed to humans: %s", row["bot_id"],
                     row["conversation_id"], reason)
    return handed
