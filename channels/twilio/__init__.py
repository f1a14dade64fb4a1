"""Twilio channel (SMS, MMS, WhatsApp via Twilio): request signatures, inbound and
status-callback parsing, outbound sending."""
