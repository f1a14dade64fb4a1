"""Reports: the wallboard's metric definitions and today queries (docs/board.md).
Where things go:

- ``rules.py``: pure metric definitions (rows in, figures out).
- ``store.py``: the read queries behind each metric (read-only, scoped by what the
  agent may see).
A report changes no state, so there is no ``actions``; handlers live in ``web/``.
"""
