"""Database plumbing shared by every subsystem: ``migrate`` applies hub/migrations.
Subsystem SQL lives in each subsystem's ``store``."""
