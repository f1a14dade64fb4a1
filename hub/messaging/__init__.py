"""Messaging channels (WhatsApp, Messenger, Instagram, SMS, Telegram): provider
windows, delivery status and agents' uploads.

- rules: ``rules`` (Meta's 24-hour messaging window).
- store/: ``uploads`` (uploads claimed by a reply), ``delivery`` (status reports, provider
  refs), ``reply_windows`` (the reply policy's reads, template sends);
  ``store.accounts`` (provider accounts, send rows), ``store.attachments`` (blobs,
  attachment states, upload rows).
- actions: ``actions`` (delivery status from provider reports and our send worker),
  ``reply_policy`` (channel rules checked inside a reply).
"""
