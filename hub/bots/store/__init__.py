"""The bots subsystem's SQL (the only code that speaks it for bots):

- ``deliveries``: the ``bot_deliveries`` rows of the webhook worker;
- ``accounts``: the ``bots`` rows (create, settings, rotation, token lookup), the queue a
  bot serves, and the audit rows of bot changes;
- ``holds``: the conversations, work items and messages of what a bot holds (replies,
  hand-offs, the socket's snapshot).

The webhook worker imports this package as ``bot_store``; the delivery functions are
re-exported here so that keeps working.
"""

from hub.bots.store.deliveries import (
    CLAIM_DELIVERY,
    Conn,
    any_webhook_bot,
    bot_has_webhook,
    claim_delivery,
    due_line_heads,
    finish_delivery,
    insert_delivery,
    last_delivery_held,
    next_pending_delivery,
    reset_stuck_sending,
    webhook_bot_holding,
)

__all__ = [
    "CLAIM_DELIVERY", "Conn", "any_webhook_bot", "bot_has_webhook", "claim_delivery",
    "due_line_heads", "finish_delivery", "insert_delivery", "last_delivery_held",
    "next_pending_delivery", "reset_stuck_sending", "webhook_bot_holding",
]
