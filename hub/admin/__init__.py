"""Admin of inboxes, provider accounts and agents.

- rules: ``rules`` (typed bodies and the pure checks behind web/routes_admin.py).
- store: ``store`` (each write one transaction with its audit row), ``store.inboxes``
  (inbox and queue lookups of the edges), ``store.demo_seed`` (the demo seed's writes).
"""
