"""Contact SQL: the only code speaking SQL for contacts."""
