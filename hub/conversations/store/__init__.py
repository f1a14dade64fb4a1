"""Conversation SQL: inbound persistence and read models."""
