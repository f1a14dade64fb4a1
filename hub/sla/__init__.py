"""SLA clocks (the pure core and the stored policies are built: docs/sla.md). Where things go:

- ``rules/``: pure: policies in, deadlines and breaches out (``now`` a parameter);
  built (``policy``, ``load``, ``worktime``, ``clock``).
- ``schedule.py``: the wake-ups in Redis (due set, leases, nudges); built, fired by
  ``workers/sla_timers.py`` (docs/sla.md "Timers").
- ``store.py``: every SQL statement of SLA timers, audit rows included.
- ``actions.py``: start/pause/stop timers and emit ``sla.*`` events through
  ``hub.unit_of_work``; a timer sweep in ``workers/`` calls these actions.
- ``store/policies.py``: the stored policies (versions, audit rows; built). ``store``
  is a package, so the timers' SQL goes in a module beside it, not in ``store.py``.
A new event type is added to ``hub/schema.py`` (the closed event set).
"""
