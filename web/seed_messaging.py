"""Demo messaging inboxes, one per channel, with their provider accounts. Credentials
are derived from the hub's secret key (stable across restarts, different per install);
the provider ids are fictional. Point a provider (or ``tests/fixtures/fake_providers.py``) at the
webhook URLs in docs/channels.md with these credentials to try them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hub.admin.store import demo_seed as store
from hub.config import Settings
from web.seed_secrets import derive_secret

if TYPE_CHECKING:
    import asyncpg

WHATSAPP_TEMPLATES = [
    {"name": "follow_up", "language": "en",
     "body": "Hi {{1}}, this is omnihub support following up on your request."
             " Reply to this message to continue the conversation."},
    {"name": "order_update", "language": "en",
     "body": "Hello {{1}}, there is an update on your order {{2}}. Reply for details."},
]

# (slug, name, channel, provider, external_id)
MESSAGING_INBOXES = [
    ("twilio-sms", "SMS (Twilio)", "sms", "twilio", "+15555550199"),
    ("wa-twilio", "WhatsApp (Twilio)", "whatsapp", "twilio", "whatsapp:+15555550198"),
    ("whatsapp", "WhatsApp (Cloud API)", "whatsapp", "meta", "106540352242922"),
    ("messenger", "Facebook Messenger", "messenger", "meta", "100000000000001"),
    ("instagram", "Instagram", "instagram", "meta", "17841400000000001"),
    ("telegram", "Telegram", "telegram", "telegram", "7000000001"),
]


def _derive(settings: Settings, purpose: str) -> str:

    return derive_secret(settings, f"messaging:{purpose}")


def messaging_credentials(settings: Settings) -> dict[str, dict[str, Any]]:
    """Per inbox slug: the columns of its channel_accounts row."""
    twilio_sid = "AC" + _derive(settings, "twilio:sid")[:32]
    twilio_token = _derive(settings, "twilio:token")[:32]
    meta = {"app_secret": _derive(settings, "meta:app-secret")[:32],
            "verify_token": _derive(settings, "meta:verify")[:24]}
    out: dict[str, dict[str, Any]] = {}
    for slug, _, channel, provider, external_id in MESSAGING_INBOXES:
        row: dict[str, Any] = {"provider": provider, "external_id": external_id,
                               "channel": channel, "account_sid": "", "auth_token": "",
                               "access_token": "", "app_secret": "", "verify_token": "",
                               "secret_token": "", "templates": []}
        if provider == "twilio":
            row.update(account_sid=twilio_sid, auth_token=twilio_token)
        elif provider == "meta":
            row.update(meta, access_token="EAA" + _derive(settings, f"meta:{slug}")[:40])
            if channel == "whatsapp":
                row["templates"] = WHATSAPP_TEMPLATES
        else:
            row.update(access_token=f"{external_id}:AA" + _derive(settings, "tg:token")[:33],
                       secret_token=_derive(settings, "tg:secret")[:32])
        out[slug] = row
    return out


async def ensure_messaging_inboxes(conn: asyncpg.Connection, settings: Settings) -> None:
    """Add the demo messaging inboxes and accounts that are missing (idempotent)."""
    creds = messaging_credentials(settings)
    for slug, name, channel, _, _ in MESSAGING_INBOXES:
        c = creds[slug]
        await store.ensure_messaging_inbox(conn, slug, name, channel, c,
                                           json.dumps(c["templates"]))
