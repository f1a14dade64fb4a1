"""SLA clocks (the pure core and the stored policies are built: docs/sla.md). Where things go:

- ``rules/``: pure: policies in, deadlines and breaches out (``now`` a parameter);
  built (``policy``, ``load``, ``worktime``, ``clock``).
- ``store/``: ``policies`` (stored policy versions, audit rows); timers add their module.
- ``actions.py``: start/pause/stop timers and emit ``sla.*`` events through
  ``hub.unit_of_work``; a timer sweep in ``workers/`` calls these actions.
A new event type is added to ``hub/schema.py`` (the closed event set).
"""
