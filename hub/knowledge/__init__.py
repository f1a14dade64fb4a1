"""Knowledge base (not built yet). Where things go:

- ``rules.py``: pure parsing, validation and search ranking of articles.
- ``store.py``: articles and their SQL.
- ``actions.py``: publish/edit/retire an article, through ``hub.unit_of_work``.
"""
