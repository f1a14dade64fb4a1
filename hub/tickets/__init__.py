"""Tickets (not built yet). Where things go:

- ``rules.py``: pure lifecycle rules (states, allowed transitions).
- ``store.py``: every SQL statement for tickets, audit rows included.
- ``actions.py``: every ticket state change, through ``hub.unit_of_work``.
"""
