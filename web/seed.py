"""Demo data: queues, inboxes, agents and 20 triple-play customers with their context.

``seed_demo`` is idempotent (it does nothing when agents exist) and deterministic: the
same secret key gives the same widget identity secret and API token, and a fixed random
seed gives the same customers, accounts, orders and invoices.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import unicodedata
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import msgspec

from channels.api import hash_api_token
from hub.admin.store import demo_seed as store
from hub.config import Settings
from hub.contacts.rules.prechat import parse_config
from web.passwords import hash_password
from web.seed_messaging import ensure_messaging_inboxes, messaging_credentials
from web.seed_routing import seed_routing_config
from web.seed_secrets import derive_secret

if TYPE_CHECKING:
    import asyncpg

_SEED_LOCK = 0x6F6D7364  # "omsd"
DEMO_DOMAIN = "demo.omnihub.test"
CUSTOMERS = 20

QUEUES = [("support", "Support"), ("sales", "Sales")]

# (email local part, name, role, password)
AGENTS = [
    ("agent1", "Maya Schneider", "agent", "demo-agent"),
    ("agent2", "Tom Okafor", "agent", "demo-agent"),
    ("agent3", "Lucía Fernández", "agent", "demo-agent"),
    ("supervisor", "Priya Nair", "supervisor", "demo-super"),
    ("admin", "Admin", "admin", "demo-admin"),
]

_FIRST = ["Emma", "Liam", "Sofia", "Noah", "Mia", "Lukas", "Chloé", "Mateo", "Hannah",
          "Oliver", "Léa", "Jonas", "Isabella", "Arjun", "Freya", "Hugo", "Amara", "Felix",
          "Zoe", "Daniel"]
_LAST = ["Müller", "Smith", "García", "Dubois", "Jansen", "Rossi", "Kowalski", "Brown",
         "Martin", "Schmidt", "Novak", "Williams", "López", "Bernard", "Fischer", "Taylor",
         "Moreau", "Weber", "Patel", "Johnson"]
# (locale, E.164 prefix of a range reserved for fiction/drama, digits drawn, digits kept).
# Valid for phonenumbers (the "Call me back" check), so a demo customer's own number
# passes it: Ofcom's London drama range 020 7946 0xxx (not 07700 900xxx, which
# phonenumbers calls invalid), US 555-01xx, Berlin 030 23125 xxx, ...
_PHONES = [("en-GB", "+442079460", 3, 3), ("en-US", "+120255501", 4, 2),
           ("de-DE", "+493023125", 3, 3), ("fr-FR", "+3319900", 4, 4),
           ("es-ES", "+3491000", 4, 4)]


def demo_phone(prefix: str, drawn: int, kept: int) -> str:
    return prefix + f"{drawn % 10**kept:0{kept}d}"

_PLANS = {
    "internet": [("Fibre 300", "34.99"), ("Fibre 1 Gbit", "49.99"), ("DSL 100", "29.99")],
    "tv": [("TV Basic", "9.99"), ("TV Plus", "19.99"), ("TV Premium Sports", "34.99")],
    "phone": [("Home Phone Flat", "9.99"), ("Home Phone Flat + Intl 100", "14.99"),
              ("Mobile 20 GB", "19.99")],
}
_PRODUCTS = [
    ("RTR-AX3000", "Wi-Fi 6 router AX3000", "129.00"),
    ("MESH-2PK", "Mesh Wi-Fi extender (2-pack)", "149.00"),
    ("STB-4K", "4K set-top box with voice remote", "99.00"),
    ("STB-REC", "Set-top box recording upgrade 500 GB", "59.00"),
    ("UPG-1G", "Upgrade to Fibre 1 Gbit (activation fee)", "29.00"),
    ("UPG-SPORTS", "Add TV Premium Sports (activation fee)", "19.00"),
    ("INST-VISIT", "Technician installation visit", "49.00"),
    ("DECT-1", "DECT cordless phone", "39.90"),
    ("SIM-5G", "5G SIM card", "10.00"),
]
_ORDER_STATUSES = ["pending", "processing", "shipped", "delivered", "delivered", "cancelled"]


def demo_api_token(settings: Settings) -> str:
    """Bearer token of the demo ``api`` inbox."""
    return "ohk_" + derive_secret(settings, "inbox:api:token")[:40]


def dev_pbx_port(settings: Settings) -> int:
    """The AMI port of the demo originator: the dev PBX's, else Asterisk's 5038."""
    _, _, port = settings.dev_pbx_listen.rpartition(":")
    return int(port) if port.isdigit() else 5038


def demo_ami_secret(settings: Settings) -> str:
    """The AMI secret of the demo originator (user ``omnihub``), which the dev PBX
    simulator (``omnihub devpbx``) accepts."""
    return derive_secret(settings, "ami:secret")[:24]


def demo_cti_token(settings: Settings) -> str:
    """Token of the demo PBX's CTI endpoint (``/cti/<token>/events``)."""
    return "cti_" + derive_secret(settings, "cti:phone:token")[:40]


def demo_identity_secret(settings: Settings) -> str:
    """Identity secret of the demo ``web`` inbox (HMAC key for identified shop users)."""
    return derive_secret(settings, "inbox:web:identity")


@lru_cache(maxsize=8)
def _password_hash(password: str) -> str:
    # argon2 is slow on purpose; one hash per distinct password is enough for demo data.
    return hash_password(password)


# The demo web inbox's pre-chat form (`make dev`; docs/frontend.md). Tests seed without
# it (their widget clients chat straight away) and configure forms through the REST API.
DEMO_PRECHAT: dict[str, Any] = {
    "enabled": True,
    "welcome": "Hi! Tell us who you are and what it is about, and we'll be right with you.",
    "phone_region": "DE",
    "fields": [
        {"key": "name", "label": "Your name", "required": True},
        {"key": "email", "label": "Email", "required": True,
         "placeholder": "name@example.com"},
        {"key": "topic", "label": "Topic", "type": "select", "required": True,
         "options": ["TV", "Internet", "Phone", "Billing", "Something else"]},
        {"key": "customer_no", "label": "Customer number (if you have one)", "type": "text",
         "max_length": 20},
    ],
    "consent": {"text": "I agree that Triple Play stores this chat to answer my request"
                        " (privacy policy).", "version": "demo-1"},
}


async def ensure_demo_prechat(conn: asyncpg.Connection) -> None:
    """Enable the demo form once; an admin's later changes are kept."""
    cfg = parse_config(DEMO_PRECHAT)
    await store.ensure_prechat_form(conn, "web", "chat", msgspec.json.encode(cfg).decode())


async def seed_demo(conn: asyncpg.Connection, settings: Settings, *,
                    demo_prechat: bool = False) -> dict[str, Any]:
    """Seed the demo unless agents already exist; return logins, API token and ids.
    ``demo_prechat``: also enable the demo pre-chat form (``make dev``, ``omnihub seed``)."""
    api_token = demo_api_token(settings)
    async with conn.transaction():
        await store.lock_seed(conn, _SEED_LOCK)
        created = not await store.any_agents(conn)
        if created:
            await _insert_demo(conn, settings, api_token)
        await _ensure_mail_inbox(conn)
        await seed_routing_config(conn)
        await _ensure_voice(conn, settings)
        await ensure_messaging_inboxes(conn, settings)
        if demo_prechat:
            await ensure_demo_prechat(conn)
        agents = await store.agent_emails(conn)
        contact_ids = await store.contact_ids(conn)
    return {
        "created": created,
        "logins": [
            {"email": f"{local}@{DEMO_DOMAIN}", "password": pw, "role": role, "name": name}
            for local, name, role, pw in AGENTS
        ],
        "agents": {r["email"]: r["id"] for r in agents},
        "api_inbox": "api",
        "api_token": api_token,
        "widget_inbox": "web",
        "identity_secret": demo_identity_secret(settings),
        "contact_ids": contact_ids,
        "voice_inbox": "phone",
        "cti_token": demo_cti_token(settings),
        "extensions": dict(VOICE_EXTENSIONS),
        "messaging": messaging_credentials(settings),
    }


DEMO_MAILBOX = f"support@{DEMO_DOMAIN}"


async def _ensure_mail_inbox(conn: asyncpg.Connection) -> None:
    """The email inbox `make dev` delivers local SMTP mail to (added to older dev data too)."""
    await store.insert_inbox(conn, "mail", "Support email", "email", "support")
    # The mailbox agent replies and acknowledgements are sent from.
    await store.ensure_sender_address(conn, "mail", "email", DEMO_MAILBOX, "Omnihub Support")
    await store.add_every_agent_to_inbox(conn, "mail")


# agent e-mail local part -> PBX extension
VOICE_EXTENSIONS = [("agent1", "101"), ("agent2", "102"), ("agent3", "103")]
DISPOSITIONS = [("resolved", "Resolved on the call"), ("follow_up", "Follow-up needed"),
                ("escalated", "Escalated to 2nd level"), ("sale", "Sale / upgrade"),
                ("no_answer", "Customer did not answer"), ("wrong_number", "Wrong number")]
BLOCKED_DEMO_CALLER = "+493099999999"
DEMO_SCRIPT = """\
name: Internet troubleshooting
queue: support
start: greet
steps:
  greet:
    prompt: "Hello {contact.first_name}, this is {agent.name}. I see your {account.plan}
      plan ({account.no}). Is the light on your router green?"
    options:
      - {label: "Yes, green", value: "green", next: devices}
      - {label: "No / blinking", value: "not_green", next: power}
  power:
    prompt: "Please unplug the router for 10 seconds and plug it back in. Is it green now?"
    options:
      - {label: "Green now", value: "green", next: done}
      - {label: "Still not green", value: "still_down", next: visit}
  devices:
    prompt: "Which devices cannot get online?"
    input: text
    next: decide
  decide:
    branch:
      - {if: {step: devices, in: ["none", "all fine"]}, next: done}
    default: visit
  visit:
    prompt: "I am booking a technician visit for {account.no}. Anything else, {contact.first_name}?"
    end: true
  done:
    prompt: "Glad it works again! Anything else I can help with?"
    end: true
"""


async def _ensure_voice(conn: asyncpg.Connection, settings: Settings) -> None:
    """The phone inbox, its CTI endpoint, extensions, dispositions (idempotent)."""
    if not await store.queue_exists(conn, "support"):
        return
    # Click-to-call through AMI (manager.conf user omnihub): make dev runs a PBX
    # simulator there (`omnihub devpbx`, channels/cti/pbx_sim.py); with nothing
    # listening, "Call now" says the phone system cannot be reached.
    await store.insert_inbox(conn, "phone", "Phone", "voice", "support",
                             allowed_origins=["*"])
    await store.ensure_originator(conn, "phone", "ami", json.dumps(
        {"host": "127.0.0.1", "port": dev_pbx_port(settings), "username": "omnihub",
         "secret": demo_ami_secret(settings),
         "context": "from-internal", "channel": "PJSIP/{extension}",
         "caller_id": "Omnihub Support <493055571600>"}))
    await store.add_every_agent_to_inbox(conn, "phone")
    await store.ensure_cti_endpoint(
        conn, "phone", hashlib.sha256(demo_cti_token(settings).encode()).hexdigest(),
        [BLOCKED_DEMO_CALLER],
        json.dumps([{"dest": "1*", "caller_id": "12025550100"},
                    {"dest": "44*", "caller_id": "442071838750"}]))
    await store.ensure_extensions(
        conn, [(ext, f"{local}@{DEMO_DOMAIN}") for local, ext in VOICE_EXTENSIONS])
    await store.ensure_dispositions(
        conn, [(code, label, n) for n, (code, label) in enumerate(DISPOSITIONS)])
    from hub.voice.rules.scripts import graph_of, parse_script
    script = parse_script(DEMO_SCRIPT)
    await store.ensure_call_script(conn, script.doc.name, script.doc.queue, script.doc.topic,
                                   json.dumps(graph_of(script)), DEMO_SCRIPT)


async def _insert_demo(conn: asyncpg.Connection, settings: Settings, api_token: str) -> None:
    await store.insert_queues(conn, QUEUES)
    await store.insert_inbox(
        conn, "web", "Web chat", "chat", "support",
        greeting="Hi! Questions about your TV, internet or phone?"
                 " We usually answer within minutes.",
        allowed_origins=["*"], identity_secret=demo_identity_secret(settings))
    await store.insert_inbox(conn, "api", "Shop API", "api", "sales",
                             token_hash=hash_api_token(api_token))
    agent_ids = []
    for local, name, role, password in AGENTS:
        agent_ids.append(await store.insert_agent(
            conn, f"{local}@{DEMO_DOMAIN}", name, role, _password_hash(password)))
    await store.insert_agent_inboxes(
        conn, [(a, inbox) for a in agent_ids for inbox in ("web", "api")])
    await store.insert_agent_queues(conn, [(a, q) for a in agent_ids for q, _ in QUEUES])
    await _insert_customers(conn)


async def _insert_customers(conn: asyncpg.Connection) -> None:
    rng = random.Random(20241122)
    today = dt.date.today()
    now = dt.datetime.now(dt.UTC)
    vip = set(rng.sample(range(CUSTOMERS), 3))
    order_no = invoice_no = 0
    for i in range(CUSTOMERS):
        first, last = _FIRST[i], _LAST[(i * 7) % len(_LAST)]
        locale, prefix, digits, kept = _PHONES[i % len(_PHONES)]
        # The same draw as ever (the rest of the demo data stays as it was).
        phone = demo_phone(prefix, rng.randrange(10 ** (digits - 1), 10**digits), kept)
        domain = ("example.com", "example.org", "example.net")[i % 3]
        email = f"{_ascii(first)}.{_ascii(last)}@{domain}".lower()
        tier = "vip" if i in vip else rng.choice(["standard", "standard", "plus"])
        contact_id = await store.insert_contact(
            conn, f"{first} {last}", email, phone, locale, tier)
        await store.insert_identities(
            conn, [("email", email.lower(), contact_id), ("phone", phone, contact_id)])

        services = ["internet", *rng.sample(["tv", "phone"], rng.randint(0, 2))]
        monthly = Decimal(0)
        for n, service in enumerate(services):
            plan, fee = rng.choice(_PLANS[service])
            if tier == "vip" and service == "internet":
                plan, fee = _PLANS["internet"][1]
            monthly += Decimal(fee)
            await store.insert_customer_account(
                conn, contact_id, f"AC-{4_100_000 + i * 10 + n}", service, plan,
                "suspended" if i == 13 and service == "tv" else "active",
                Decimal(fee), today - dt.timedelta(days=rng.randint(120, 2400)),
            )

        for _ in range(rng.randint(1, 3)):
            order_no += 1
            picks = rng.sample(_PRODUCTS, rng.randint(1, 3))
            items = [{"sku": sku, "name": name, "qty": 1, "unit_price": price}
                     for sku, name, price in picks]
            age = rng.randint(1, 120)
            status = rng.choice(_ORDER_STATUSES) if age < 14 else rng.choice(
                ["delivered", "delivered", "cancelled", "returned"])
            await store.insert_order(
                conn, contact_id, f"ORD-{240_000 + order_no}", json.dumps(items),
                sum((Decimal(p) for _, _, p in picks), Decimal(0)), status,
                now - dt.timedelta(days=age, minutes=rng.randint(0, 1440)),
            )

        months = rng.randint(2, 4)
        overdue = i % 4 == 1
        for m in range(months):
            invoice_no += 1
            due = today + dt.timedelta(days=10 - 30 * m)
            status = "open" if m == 0 else "overdue" if overdue and m == 1 else "paid"
            await store.insert_invoice(
                conn, contact_id, f"INV-{780_000 + invoice_no}", monthly, due, status,
                dt.datetime.combine(due - dt.timedelta(days=14), dt.time(6), dt.UTC),
            )


def _ascii(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum())
