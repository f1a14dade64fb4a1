"""Messaging channels (WhatsApp, Messenger, Instagram, SMS, Telegram): provider
windows, delivery status and agents' uploads.

- rules: ``rules`` (Meta's 24-hour messaging window).
- store: ``store`` (uploads claimed by a reply, media references), ``accounts_store``
  (provider accounts, send rows), ``attachments_store`` (blobs, attachment states,
  upload rows).
- actions: ``actions`` (delivery status from provider reports and our send worker).
"""
