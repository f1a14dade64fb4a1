"""Bots: accounts, what a bot holds, replies, hand-offs, administration, webhooks.

- rules: ``rules`` (the signed webhook request and its retry schedule). Pure.
- presence: ``presence`` (which bots have a live socket, in Redis).
- actions/: ``bots`` (replies and hand-offs), ``admin`` (settings, rotation, audited).
"""
