"""What a provider send returned, and how transport failures are classified. Pure.

At most once: a send is retried only when the provider certainly did not act on it —
the connection was never made, or it answered 429/5xx. A timeout or a dropped
connection *after* the request left is ambiguous (the provider may have sent it); the
message is marked failed with that reason instead of risking a duplicate to the
customer. None of these providers accepts an idempotency key on send."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from hub.untrusted import is_decimal


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    provider_ref: str = ""
    error: str = ""
    retryable: bool = False
    retry_after_s: float | None = None


def transport_failure(exc: httpx.HTTPError) -> SendResult:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return SendResult(False, error=f"provider unreachable: {type(exc).__name__}",
                          retryable=True)
    return SendResult(False, error=f"delivery outcome unknown ({type(exc).__name__});"
                                   " not retried to avoid a duplicate")


def http_failure(status: int, error: str, retry_after: str | None = None) -> SendResult:
    retryable = status == 429 or status >= 500
    after: float | None = None
    if retry_after and is_decimal(retry_after.replace(".", "", 1)):
        after = min(float(retry_after), 3600.0)
    return SendResult(False, error=error[:500], retryable=retryable, retry_after_s=after)


def json_or_empty(resp: httpx.Response) -> dict[str, object]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
