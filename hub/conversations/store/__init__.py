"""Conversation SQL: inbound persistence, read models, and the agents' changes."""
