"""Outbound Messenger, Instagram and WhatsApp Cloud messages through the Graph API
(protocols.md §2.5-2.7). Token in ``Authorization: Bearer`` (never in the URL, which
ends up in logs).

- Messenger / Instagram: ``POST {base}/{version}/{page or IG id}/messages`` JSON
  ``{recipient: {id}, messaging_type: RESPONSE, message: {text}}`` -> ``message_id``;
  24 h - 7 d after the person's last message ``messaging_type: MESSAGE_TAG, tag:
  HUMAN_AGENT`` (protocols.md §2.7; the window is decided in hub/messaging/rules.py).
- WhatsApp: ``POST {base}/{version}/{phone_number_id}/messages`` JSON
  ``{messaging_product: whatsapp, to, type: text|template, ...}`` -> ``messages[0].id``.
"""

from __future__ import annotations

from typing import Any

import httpx

from channels.send_result import SendResult, http_failure, json_or_empty, transport_failure

MAX_TEXT = {"messenger": 2000, "instagram": 1000, "whatsapp": 4096}


async def _post(http: httpx.AsyncClient, url: str, token: str,
                payload: dict[str, Any]) -> tuple[httpx.Response | None, SendResult | None]:
    try:
        resp = await http.post(url, json=payload, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        return None, transport_failure(exc)
    return resp, None


def _failure(resp: httpx.Response, data: dict[str, Any]) -> SendResult:
    err = data.get("error")
    if isinstance(err, dict):
        detail = f"Meta {err.get('code', '')}: {err.get('message', '')}".strip()
    else:
        detail = f"Meta HTTP {resp.status_code}"
    return http_failure(resp.status_code, detail, resp.headers.get("retry-after"))


async def send_social_message(http: httpx.AsyncClient, *, base: str, version: str,
                              account_id: str, token: str, channel: str, recipient: str,
                              text: str, messaging_type: str = "RESPONSE",
                              tag: str = "") -> SendResult:
    if len(text) > MAX_TEXT[channel]:
        return SendResult(False, error=f"text over the {MAX_TEXT[channel]} character limit"
                                       f" of {channel}")
    url = f"{base.rstrip('/')}/{version}/{account_id}/messages"
    if messaging_type not in ("RESPONSE", "MESSAGE_TAG") or (
            (messaging_type == "MESSAGE_TAG") != bool(tag)):
        return SendResult(False, error=f"bad messaging type {messaging_type!r}/{tag!r}")
    payload: dict[str, Any] = {"recipient": {"id": recipient},
                               "messaging_type": messaging_type, "message": {"text": text}}
    if tag:
        payload["tag"] = tag
    resp, failed = await _post(http, url, token, payload)
    if failed or resp is None:
        return failed or SendResult(False, error="no response")
    data = json_or_empty(resp)
    if resp.status_code == 200 and isinstance(data.get("message_id"), str):
        return SendResult(True, provider_ref=str(data["message_id"]))
    return _failure(resp, data)


def whatsapp_payload(to_e164: str, text: str,
                     template: tuple[str, str, list[str]] | None) -> dict[str, Any]:
    base: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual",
                            "to": to_e164.lstrip("+")}
    if template is None:
        return {**base, "type": "text", "text": {"preview_url": False, "body": text}}
    name, language, params = template
    body: dict[str, Any] = {"name": name, "language": {"code": language}}
    if params:
        body["components"] = [{"type": "body", "parameters": [
            {"type": "text", "text": p} for p in params]}]
    return {**base, "type": "template", "template": body}


async def send_whatsapp_message(http: httpx.AsyncClient, *, base: str, version: str,
                                phone_number_id: str, token: str, to_e164: str, text: str,
                                template: tuple[str, str, list[str]] | None) -> SendResult:
    if template is None and len(text) > MAX_TEXT["whatsapp"]:
        return SendResult(False, error="text over WhatsApp's 4096 character limit")
    url = f"{base.rstrip('/')}/{version}/{phone_number_id}/messages"
    resp, failed = await _post(http, url, token, whatsapp_payload(to_e164, text, template))
    if failed or resp is None:
        return failed or SendResult(False, error="no response")
    data = json_or_empty(resp)
    messages = data.get("messages")
    if resp.status_code == 200 and isinstance(messages, list) and messages and isinstance(
            messages[0], dict) and isinstance(messages[0].get("id"), str):
        return SendResult(True, provider_ref=str(messages[0]["id"]))
    return _failure(resp, data)
