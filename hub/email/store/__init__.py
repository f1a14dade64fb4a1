"""Email SQL."""
