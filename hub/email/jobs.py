"""The email acknowledgement job's name and ids (the job: workers/email_ack.py)."""

from __future__ import annotations

from hub.config import Settings
from hub.jobs import job_id

SEND_EMAIL_ACK = "send_email_ack"


def email_ack_key(conversation_id: int) -> str:
    return f"email-ack:{conversation_id}"


def email_ack_job_id(settings: Settings, conversation_id: int) -> str:
    """One acknowledgement job per case; the pipeline and the sweeper use the same id."""
    return job_id(settings, email_ack_key(conversation_id))
