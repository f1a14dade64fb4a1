"""Postgres gateway: the only place in hub/ that speaks SQL."""
