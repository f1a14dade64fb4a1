"""Voice state changes: one transaction each, events after commit."""
