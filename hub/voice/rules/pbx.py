"""What the hub answers a PBX's ``newCall`` (Zammad generic CTI semantics). Pure.

- inbound, caller on the block list → ``{"action":"reject","reason":"busy"}`` (the PBX
  still sends ``hangup``);
- outbound, a caller-id routing row matches the dialled number (``*`` wildcard; first
  match in order), else a default caller id → ``{"action":"dial","caller_id":...,
  "number":...}``;
- otherwise ``{}``.

Numbers are compared as digits only, so ``+49 30 123`` and ``4930123`` are equal.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import msgspec

from hub.voice.rules.callstate import CallSignal


class CallerIdRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    dest: str          # pattern of the dialled number, '*' = any digits
    caller_id: str     # the number to present


class CtiRules(msgspec.Struct, frozen=True, kw_only=True):
    blocked: tuple[str, ...] = ()               # caller patterns ('*' wildcard)
    caller_id_rules: tuple[CallerIdRule, ...] = ()
    default_caller_id: str = ""


def digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


@lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern[str]:
    parts = [digits(p) for p in pattern.split("*")]
    return re.compile("^" + r"\d*".join(re.escape(p) for p in parts) + "$")


def matches(pattern: str, number: str) -> bool:
    if not digits(pattern) and "*" not in pattern:
        return False
    return bool(_pattern(pattern).match(digits(number)))


def cti_reply(sig: CallSignal, rules: CtiRules) -> dict[str, Any]:
    if sig.kind != "ring":
        return {}
    if sig.direction == "in":
        if any(matches(p, sig.from_number) for p in rules.blocked):
            return {"action": "reject", "reason": "busy"}
        return {}
    for rule in rules.caller_id_rules:
        if matches(rule.dest, sig.to_number):
            return {"action": "dial", "caller_id": digits(rule.caller_id),
                    "number": digits(sig.to_number)}
    if rules.default_caller_id:
        return {"action": "dial", "caller_id": digits(rules.default_caller_id),
                "number": digits(sig.to_number)}
    return {}


def is_blocked(sig: CallSignal, rules: CtiRules) -> bool:
    return cti_reply(sig, rules).get("action") == "reject"
