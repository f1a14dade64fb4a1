"""Meta's messaging window for Messenger and Instagram. Pure.

A Page (or Instagram account) may answer freely for 24 hours after the person's last
message (``messaging_type: RESPONSE``). With the ``HUMAN_AGENT`` message tag a human
agent may still answer up to 7 days after it (``messaging_type: MESSAGE_TAG``,
``tag: HUMAN_AGENT``); the app needs Meta's Human Agent permission, so it is a
per-account switch (``channel_accounts.human_agent``). Beyond that Meta refuses the send
(error 10 / 2018278), so the reply is refused up front with ``meta_window_closed``.

Defaults: on for Messenger. Off for Instagram: protocols.md §2.5 records only that
Instagram uses the Messenger Send API shape, not that the tag is granted there; an
operator whose app has the feature approved for Instagram turns it on per account.

The decision is stored on the message (``attributes``) and the worker sends exactly it,
so what the agent was told is what Meta receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
HUMAN_AGENT_DEFAULT = {"messenger": True, "instagram": False}
META_SOCIAL = frozenset(HUMAN_AGENT_DEFAULT)

# Message attributes the worker reads.
ATTR_TYPE = "meta.messaging_type"
ATTR_TAG = "meta.tag"


@dataclass(frozen=True, slots=True)
class MetaWindow:
    open: bool
    messaging_type: str  # RESPONSE | MESSAGE_TAG ("" when closed)
    tag: str  # HUMAN_AGENT or ""
    closes_at: datetime | None  # the end of the band the next reply falls in
    reason: str  # why it is closed (or which tag applies), for the agent

    def attributes(self) -> dict[str, str]:
        attrs = {ATTR_TYPE: self.messaging_type}
        if self.tag:
            attrs[ATTR_TAG] = self.tag
        return attrs


def human_agent_enabled(channel: str, flag: bool | None) -> bool:
    return HUMAN_AGENT_DEFAULT.get(channel, False) if flag is None else flag


def meta_window(channel: str, last_inbound_at: datetime | None, now: datetime,
                human_agent: bool) -> MetaWindow:
    name = "Instagram" if channel == "instagram" else "Messenger"
    if last_inbound_at is None:
        return MetaWindow(False, "", "", None,
                          f"the customer has not written to this {name} account:"
                          " Meta only allows replies to people who wrote first")
    standard_end = last_inbound_at + STANDARD_WINDOW
    if now < standard_end:
        return MetaWindow(True, "RESPONSE", "", standard_end, "")
    tagged_end = last_inbound_at + HUMAN_AGENT_WINDOW
    if now < tagged_end and human_agent:
        return MetaWindow(True, "MESSAGE_TAG", "HUMAN_AGENT", tagged_end,
                          "more than 24 hours since the customer's last message: sent"
                          " with Meta's HUMAN_AGENT tag (a human reply, up to 7 days)")
    if now < tagged_end:
        return MetaWindow(False, "", "", None,
                          f"the customer last wrote more than 24 hours ago and this {name}"
                          " account does not use the HUMAN_AGENT tag: Meta refuses replies"
                          " now; wait for the customer to write again")
    return MetaWindow(False, "", "", None,
                      "the customer last wrote more than 7 days ago: Meta refuses replies"
                      " (even with the HUMAN_AGENT tag) until they write again")
