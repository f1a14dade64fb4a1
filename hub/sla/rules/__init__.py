"""The pure SLA core: no I/O, ``now`` always a parameter (docs/sla.md).

- ``policy``: the policy document as typed data (targets, conditions, actions).
- ``load``: validation naming the field path, compilation against the routing config,
  and the first-match-wins choice of a policy.
- ``worktime``: working-time arithmetic on the routing calendars.
- ``clock``: the clock state machine (start, pause, resume, met, warning, breach).
"""
