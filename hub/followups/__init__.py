"""Order follow-ups (not built yet). Where things go:

- ``rules.py``: pure: when a follow-up is due and what it says (``now`` a parameter).
- ``store.py``: follow-up rows and their SQL.
- ``actions.py``: schedule/send/cancel, through ``hub.unit_of_work``; the due sweep
  in ``workers/`` calls these actions.
"""
