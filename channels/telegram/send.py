"""Outbound Telegram messages: ``POST {base}/bot<token>/sendMessage`` JSON
``{chat_id, text}`` -> ``{ok: true, result: {message_id}}`` (protocols.md §3). Telegram
has no delivery receipts: a message is ``sent`` once the Bot API accepted it. The
provider ref is ``<chat_id>:<message_id>`` (message ids are per chat)."""

from __future__ import annotations

import httpx

from channels.send_result import SendResult, http_failure, json_or_empty, transport_failure

MAX_TEXT = 4096


async def send_telegram_message(http: httpx.AsyncClient, *, base: str, bot_token: str,
                                chat_id: str, text: str) -> SendResult:
    if len(text) > MAX_TEXT:
        return SendResult(False, error=f"text over Telegram's {MAX_TEXT} character limit")
    url = f"{base.rstrip('/')}/bot{bot_token}/sendMessage"
    try:
        resp = await http.post(url, json={"chat_id": chat_id, "text": text})
    except httpx.HTTPError as exc:
        return transport_failure(exc)
    data = json_or_empty(resp)
    result = data.get("result")
    if resp.status_code == 200 and data.get("ok") is True and isinstance(result, dict):
        return SendResult(True, provider_ref=f"{chat_id}:{result.get('message_id')}")
    params = data.get("parameters")
    retry_after = str(params.get("retry_after")) if isinstance(params, dict) else None
    detail = f"Telegram {data.get('error_code', resp.status_code)}: {data.get('description', '')}"
    return http_failure(resp.status_code, detail, retry_after)
