"""Outbound SMS/MMS/WhatsApp through Twilio's Messages resource (protocols.md §1.5).

``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json``, HTTP Basic auth
(AccountSid, AuthToken), form-encoded ``To``, ``From``, ``Body``, ``StatusCallback``.
201 with ``sid`` -> sent (the provider ref); 4xx -> failed with Twilio's code and
message; 429/5xx -> retried by the worker."""

from __future__ import annotations

import httpx

from channels.send_result import SendResult, http_failure, json_or_empty, transport_failure

MAX_BODY = 1600


async def send_twilio_message(http: httpx.AsyncClient, *, base: str, account_sid: str,
                              auth_token: str, sender: str, to: str, body: str,
                              status_callback: str) -> SendResult:
    if len(body) > MAX_BODY:
        return SendResult(False, error=f"text over Twilio's {MAX_BODY} character limit")
    url = f"{base.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
    form = {"To": to, "From": sender, "Body": body}
    if status_callback:
        form["StatusCallback"] = status_callback
    try:
        resp = await http.post(url, data=form, auth=(account_sid, auth_token))
    except httpx.HTTPError as exc:
        return transport_failure(exc)
    data = json_or_empty(resp)
    if resp.status_code in (200, 201) and isinstance(data.get("sid"), str):
        return SendResult(True, provider_ref=str(data["sid"]))
    code, message = data.get("code", ""), data.get("message", "")
    detail = f"Twilio {code}: {message}" if code else f"Twilio HTTP {resp.status_code}"
    return http_failure(resp.status_code, detail, resp.headers.get("retry-after"))
