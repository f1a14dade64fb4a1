"""Telegram Bot API channel: webhook secret token, update parsing, outbound sending."""
