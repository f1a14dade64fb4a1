"""Database plumbing shared by every subsystem: ``migrate`` applies hub/migrations,
``create`` makes the dev database, ``probe`` holds the table-less round trips (health,
clock) and ``errors`` what a failed round trip raises. Subsystem SQL lives in each
subsystem's ``store``."""
