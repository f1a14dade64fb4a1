"""Names and ids of worker jobs. Ids carry the key prefix, because arq keys jobs by id
across the whole Redis and hubs sharing one Redis must not drop each other's jobs."""

from __future__ import annotations

from hub.config import Settings

DELIVER_MESSAGE = "deliver_message"


def delivery_job_id(settings: Settings, message_id: int) -> str:
    return f"{settings.key_prefix}deliver:{message_id}"
