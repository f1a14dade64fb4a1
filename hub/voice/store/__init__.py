"""Voice SQL."""
