"""Provider webhooks, correctly signed, with crafted values in every field: NUL text,
2^63 integers, 1,000-deep JSON. The signature is right, so only the parsing and storing
stand between these and a 500: every answer must be below 500 and never ``internal``.
(NUL in a customer's text is accepted: the ingest path makes it storable.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.fake_providers import (
    messenger_event,
    new_sid,
    telegram_message,
    whatsapp_status,
    whatsapp_text,
)
from tests.fixtures.messaging import fake_port, settings, webhooks  # noqa: F401 - fixtures

NUL = "a\x00b"
BIG = 2**63
DEEP = "[" * 1000 + "]" * 1000
MARK = "__deep__"


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path, value


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    out = list(value)
    out[head] = _replaced(out[head], rest, new)
    return out


def crafted(payload: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
    for path, _leaf in _leaves(payload):
        name = ".".join(map(str, path))
        for label, new in (("NUL", NUL), ("2^63", BIG), ("deep", MARK)):
            body = json.dumps(_replaced(payload, path, new)).replace(f'"{MARK}"', DEEP)
            yield f"{name} {label}", body.encode()


def _check(failures: list[str], what: str, r: Any) -> None:
    if r.status_code >= 500 or '"internal"' in r.text:
        failures.append(f"{what}: {r.status_code} {r.text[:160]}")


@pytest.mark.timeout(1200)  # hundreds of signed requests; hang guard for a loaded machine
async def test_signed_webhooks_with_crafted_fields_never_500(hub, webhooks):  # noqa: F811
    creds = hub.seed["messaging"]
    wa = creds["whatsapp"]["external_id"]
    page = creds["messenger"]["external_id"]
    failures: list[str] = []
    meta_samples = {
        "whatsapp text": whatsapp_text(wa, "4915112345678", "wamid.A1", "hi"),
        "whatsapp status": whatsapp_status(wa, "wamid.A1", "failed", "4915112345678",
                                           errors=[{"code": 131047, "title": "window"}]),
        "messenger text": messenger_event(page, "2100000001", "m_1", "hi"),
        "messenger delivery": {"object": "page", "entry": [{"id": page, "time": 1, "messaging": [
            {"sender": {"id": "2100000001"}, "recipient": {"id": page}, "timestamp": 1,
             "delivery": {"mids": ["m_1"], "watermark": 1700000000000}}]}]},
    }
    for name, payload in meta_samples.items():
        for label, body in crafted(payload):
            _check(failures, f"meta {name} {label}", await webhooks.meta(body))
    for label, body in crafted(telegram_message(77, 4242, "hi")):
        _check(failures, f"telegram {label}", await webhooks.telegram("telegram", body))
    status = webhooks.twilio_status("twilio-sms", new_sid(), "failed", "+15555550100",
                                    ErrorCode="30003", ErrorMessage="unreachable")
    inbound = webhooks.twilio_inbound("twilio-sms", "+15555550100", "hi")
    for name, params in (("status", status), ("inbound", inbound)):
        for key in params:
            r = await webhooks.twilio("twilio-sms", {**params, key: NUL})
            _check(failures, f"twilio {name} {key} NUL", r)
    assert not failures, "\n".join(failures[:60])
