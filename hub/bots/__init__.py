"""Bots: accounts, what a bot holds, replies, hand-offs, administration, webhooks.

- rules: ``rules`` (the signed webhook request and its retry schedule). Pure.
- presence: ``presence`` (which bots have a live socket, in Redis).
- store/: ``accounts`` (bots, queue bot, audit rows), ``holds`` (what a bot holds,
  replies, hand-offs), ``deliveries`` (webhook deliveries). The only bots SQL.
- actions/: ``bots`` (replies and hand-offs), ``admin`` (settings, rotation, audited).
"""
