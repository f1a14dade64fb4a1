"""SLA SQL: ``policies`` (the stored, versioned, audited policy document)."""
