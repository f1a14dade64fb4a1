"""Names and ids of worker jobs. Ids carry the key prefix, because arq keys jobs by id
across the whole Redis and hubs sharing one Redis must not drop each other's jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.config import Settings


@dataclass(frozen=True, slots=True)
class PendingJob:
    """A job to enqueue after commit, asked for by an ingest step. ``key`` is the job id
    without the key prefix (``job_id`` adds it), so a repeat enqueues nothing new."""

    function: str
    args: tuple[Any, ...]
    key: str


def job_id(settings: Settings, key: str) -> str:
    return f"{settings.key_prefix}{key}"

DELIVER_MESSAGE = "deliver_message"


def delivery_job_id(settings: Settings, message_id: int) -> str:
    return f"{settings.key_prefix}deliver:{message_id}"


ORIGINATE_CALLBACK = "originate_callback"


def originate_job_id(settings: Settings, work_item_id: int, agent_id: int,
                     attempt: int = 0, callback_id: int | None = None) -> str:
    """One originate per (callback item, agent, [callback,] attempts made so far): a
    repeated acceptance hook or a double click enqueues nothing new, while "Call now"
    after a failed attempt (the agent keeps the item), or on another callback of the
    same conversation, is a new job. The claim in the job is the real guard: a second
    job for a callback already dialling does nothing."""
    suffix = (f":cb{callback_id}" if callback_id is not None else "") + (
        f":{attempt}" if attempt else "")
    return f"{settings.key_prefix}originate:{work_item_id}:{agent_id}{suffix}"


# Bot webhook deliveries (workers/bot_webhooks.py): enqueued with fresh job ids; the
# row's conditional claim makes repeats harmless.
DELIVER_BOT_WEBHOOK = "deliver_bot_webhook"


SEND_VERIFICATION_CODE = "send_verification_code"


def verification_job_id(settings: Settings, verification_id: int) -> str:
    """One sending job per verification (docs/identity.md "Verifying a claim")."""
    return f"{settings.key_prefix}verify-code:{verification_id}"
