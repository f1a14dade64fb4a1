"""Agents and their sessions: who is signed in, who an id is, whether an agent may
work in an inbox. Every subsystem that names an agent reads it through here.

- store: ``store`` (agent loaders, names, logins and sessions; the SQL of the
  ``agents``, ``agent_inboxes`` and ``sessions`` tables as read by the rest of the hub).
  Creating and editing agents is admin's (``hub.admin.store``, audited writes).
- rules: who may do what is ``hub.access``.
"""
