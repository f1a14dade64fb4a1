"""SLA timers (not built yet). Where things go:

- ``rules.py``: pure: policies in, deadlines and breaches out (``now`` a parameter).
- ``store.py``: every SQL statement of SLA timers, audit rows included.
- ``actions.py``: start/pause/stop timers and emit ``sla.*`` events through
  ``hub.unit_of_work``; a timer sweep in ``workers/`` calls these actions.
A new event type is added to ``hub/schema.py`` (the closed event set).
"""
