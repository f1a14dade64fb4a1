"""Who an agent's email reply goes to: the customer's Reply-To when they set one (RFC
5322 §3.6.2), else the address that opened the case; and, like "reply all" in a mail
client, everyone else the customer's latest mail was addressed to (To and Cc) stays in
Cc, except our own addresses (our mailboxes, our reply+token addresses), so a customer
who copied a colleague keeps them in the loop and we never mail ourselves."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MAX_CC = 20


@dataclass(frozen=True, slots=True)
class ReplyRecipients:
    to: str
    cc: tuple[str, ...] = ()


def _addresses(value: str) -> list[str]:
    return [a.strip().lower() for a in value.split(",") if "@" in a]


def choose_reply_recipients(latest_inbound: Mapping[str, str] | None, contact_address: str,
                            our_addresses: Iterable[str],
                            our_domains: Iterable[str]) -> ReplyRecipients:
    """``latest_inbound``: the attributes of the customer's newest mail in the case
    (``email.reply_to``, ``email.to``, ``email.cc``), or None when there is none."""
    attrs = latest_inbound or {}
    ours = {a.lower() for a in our_addresses if a}
    domains = {d.lower() for d in our_domains if d}

    def foreign(addr: str) -> bool:
        return addr not in ours and addr.rpartition("@")[2] not in domains

    reply_to = _addresses(attrs.get("email.reply_to", ""))
    to = reply_to[0] if reply_to and foreign(reply_to[0]) else contact_address.lower()
    cc: list[str] = []
    for addr in _addresses(attrs.get("email.to", "")) + _addresses(attrs.get("email.cc", "")):
        if addr != to and addr != contact_address.lower() and foreign(addr) and addr not in cc:
            cc.append(addr)
    return ReplyRecipients(to=to, cc=tuple(cc[:MAX_CC]))
