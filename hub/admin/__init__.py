"""Admin of inboxes, provider accounts and agents.

- rules: ``rules`` (typed bodies and the pure checks behind web/routes_admin.py).
- store: ``store`` (each write one transaction with its audit row), ``inboxes_store``
  (inbox and queue lookups of the edges), ``demo_seed_store`` (the demo seed's writes).
"""
