"""Conversations: inbound ingest and agents acting on conversations.

- rules: ``rules`` (which channel a reply goes out on). Pure.
- store: ``store/persist`` (one inbound batch in one transaction, channel steps from
  ``hub.ingest_steps``), ``store/ingest_rows`` (contacts, conversations, work items,
  message rows), ``store/queries`` (conversation and message read models, scoped by what
  the agent may see), ``store/changes`` and ``store/replies`` (the actions' SQL),
  ``store/outbound`` (the delivery worker's claims and status), ``store/failures`` (the
  pipeline's pool and how it tells Postgres errors apart).
- actions: ``actions`` (reply, assign, status; a channel's own reply rules are
  ``hub.messaging.reply_policy``).
- ``steps``: the protocols of the channels' ingest steps (table: ``hub.ingest_steps``).
- runners: ``pipeline`` (the ingest consumer), ``dead_letters`` (entries it could not
  store).

This package is the generic pipeline: it names no channel (tests/test_layout.py).
Channel facts come from ``hub.channels_table``; channel steps from ``hub.ingest_steps``.
"""
