"""Contacts: identity, linking, merge and split, claim verification, pre-chat.

- rules/: ``identity`` (normal forms, linking rules), ``verification`` (one-time codes),
  ``prechat`` (the widget pre-chat form: config and a visitor's answers, which become
  contact claims; that is why it lives here and not in a chat package).
- store/: ``contacts`` (read models), ``linking`` (find-or-create contacts of a batch),
  ``verification``, ``prechat`` (config writes with audit rows, submissions),
  ``merging`` (merge and split: row locks, moves, audit rows), ``context`` (the 360°
  view), ``identities`` (edge lookups), ``verification_delivery``.
- actions/: ``merge`` (merge and split), ``verification`` (ask, confirm a claim).
"""
