"""``/dev/mailbox``: the mail the development sink kept (agent replies, acknowledgements),
for ``make dev``. Mounted only when ``dev_mailbox_dir`` is set (``omnihub dev`` sets it;
production never does), and only for signed-in agents. Everything shown is escaped: the
mail is untrusted text, HTML parts are shown as source, never rendered."""

from __future__ import annotations

import asyncio
import html
from datetime import UTC, datetime
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from channels.email.dev_sink import KeptMail, read_mailbox
from hub.errors import HubError
from web.auth import agent_from_connection
from web.http import JSON
from web.routing_kit import public_route
from web.state import HubState

_CSP = ("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none';"
        " base-uri 'none'; form-action 'none'")
_HEADERS = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}
_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 16px;
       color: #1d2330; background: #f6f7fb; }
h1 { font-size: 20px; margin: 0 0 4px; } .muted { color: #6b7385; }
details { background: #fff; border: 1px solid #dde1ea; border-radius: 8px; margin: 8px 0; }
summary { cursor: pointer; padding: 10px 12px; display: grid;
          grid-template-columns: 150px 1fr 1fr 2fr; gap: 12px; }
summary span { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.mail { padding: 0 12px 12px; } pre { white-space: pre-wrap; word-break: break-word;
        background: #f3f4f8; padding: 8px; border-radius: 6px; margin: 6px 0; }
table { border-collapse: collapse; font-size: 12px; } td { vertical-align: top; padding: 1px 8px 1px 0; }
td:first-child { color: #6b7385; white-space: nowrap; } h3 { font-size: 13px; margin: 10px 0 2px; }
"""


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _mail_html(m: KeptMail) -> str:
    headers = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in m.headers)
    parts = [f"<h3>Envelope</h3><table><tr><td>MAIL FROM</td><td>{_e(m.envelope_from)}</td></tr>"
             f"<tr><td>RCPT TO</td><td>{_e(m.envelope_to)}</td></tr></table>",
             f"<h3>Headers</h3><table>{headers}</table>",
             f"<h3>Text</h3><pre data-testid='text'>{_e(m.text) or '(no text part)'}</pre>"]
    if m.html:
        parts.append(f"<h3>HTML part (source, not rendered)</h3><pre>{_e(m.html)}</pre>")
    if m.attachments:
        parts.append("<h3>Attachments</h3><pre>" + _e("\n".join(m.attachments)) + "</pre>")
    return (f"<details data-testid='mail' data-key='{_e(m.key)}'><summary>"
            f"<span class='muted'>{_when(m.received_at)}</span><span>{_e(m.from_)}</span>"
            f"<span>{_e(m.to)}</span><span><b>{_e(m.subject) or '(no subject)'}</b></span>"
            f"</summary><div class='mail'>{''.join(parts)}</div></details>")


async def _kept(state: HubState) -> list[KeptMail]:
    return await asyncio.to_thread(read_mailbox, Path(state.settings.dev_mailbox_dir))


@public_route("dev mailbox (make dev only)")
async def mailbox_page(request: Request) -> Response:
    state: HubState = request.app.state.hub
    try:
        await agent_from_connection(state, request)
    except HubError:
        return RedirectResponse("/login", status_code=303)
    kept = await _kept(state)
    body = "".join(_mail_html(m) for m in kept) or (
        "<p class='muted'>No mail yet. Reply to an email conversation in the inbox.</p>")
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>Dev mailbox · omnihub</title><style>{_STYLE}</style></head><body>"
            f"<h1>Dev mailbox</h1><p class='muted'>Outgoing mail kept by the development "
            f"SMTP sink ({len(kept)} shown, newest first). Nothing here left this machine. "
            f"<a href='/dev/mailbox'>Refresh</a> · <a href='/inbox'>Inbox</a></p>"
            f"{body}</body></html>")
    return HTMLResponse(page, headers=_HEADERS)


@public_route("dev mailbox (make dev only)")
async def mailbox_json(request: Request) -> Response:
    state: HubState = request.app.state.hub
    await agent_from_connection(state, request)  # 401 (JSON) when not signed in
    kept = await _kept(state)
    return JSON({"messages": [m.as_dict() for m in kept]}, headers={"Cache-Control": "no-store"})


routes = [
    Route("/dev/mailbox", mailbox_page),
    Route("/dev/mailbox.json", mailbox_json),
]
