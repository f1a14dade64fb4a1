"""SLA clocks (only the pure core is built: docs/sla.md). Where things go:

- ``rules/``: pure: policies in, deadlines and breaches out (``now`` a parameter);
  built (``policy``, ``load``, ``worktime``, ``clock``).
- ``schedule.py``: the wake-ups in Redis (due set, leases, nudges); built, fired by
  ``workers/sla_timers.py`` (docs/sla.md "Timers").
- ``store.py``: every SQL statement of SLA timers, audit rows included.
- ``actions.py``: start/pause/stop timers and emit ``sla.*`` events through
  ``hub.unit_of_work``; a timer sweep in ``workers/`` calls these actions.
A new event type is added to ``hub/schema.py`` (the closed event set).
"""
