"""Email: threading, email cases and which address reaches which inbox.

- rules: ``rules`` (reply tokens and the pure inbound matcher).
- store/: ``cases`` (threading and bounces inside the pipeline transaction, the
  ingest step of the email channel), ``recipients`` (addresses published for adapters).
The wire side (IMAP, SMTP, MIME) is ``channels/email``; sending is ``workers/``.
"""
