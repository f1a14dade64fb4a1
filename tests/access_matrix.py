"""The role x resource x action matrix (docs/security.md, "Access policy"), as data.

One row per route of the app: (method, path, who, body). ``who`` names a column group
(GROUPS); ``{conv}``, ``{contact}``, ``{message}``, ``{bot}``, ``{agent}`` and ``{item}``
are filled with real rows of the test's fixture (a conversation, its contact and first
message in the ``api`` inbox, a bot, agent1, a work item id). The ``other`` agent is a
member of the ``mail`` inbox only, so ``agent:inbox`` rows expect it refused by the
resource's inbox even though its role would do.

Expectations: ``A`` allowed (not 401/403), ``D`` denied (401/403/404 with a JSON reason),
``R`` an agent page's redirect (303 to /login or /inbox), ``P`` public (the session does
not matter: the same answer as anonymous, never a 5xx).
"""

from __future__ import annotations

from typing import Any

ROLES = ("anonymous", "bot", "other", "agent", "supervisor", "admin")

GROUPS: dict[str, dict[str, str]] = {
    "public": dict.fromkeys(ROLES, "P"),
    "agent": {"anonymous": "D", "bot": "D", "other": "A", "agent": "A", "supervisor": "A",
              "admin": "A"},
    "agent:inbox": {"anonymous": "D", "bot": "D", "other": "D", "agent": "A",
                    "supervisor": "A", "admin": "A"},
    "supervisor": {"anonymous": "D", "bot": "D", "other": "D", "agent": "D",
                   "supervisor": "A", "admin": "A"},
    "admin": {"anonymous": "D", "bot": "D", "other": "D", "agent": "D", "supervisor": "D",
              "admin": "A"},
    "bot": {"anonymous": "D", "bot": "A", "other": "D", "agent": "D", "supervisor": "D",
            "admin": "D"},
    "page": {"anonymous": "R", "bot": "R", "other": "A", "agent": "A", "supervisor": "A",
             "admin": "A"},
    "page:admin": {"anonymous": "R", "bot": "R", "other": "R", "agent": "R",
                   "supervisor": "R", "admin": "A"},
}

# The least role of each group, checked against the route's declared hub.access rule.
GROUP_ROLE = {"agent": "agent", "agent:inbox": "agent", "supervisor": "supervisor",
              "admin": "admin", "page": "agent", "page:admin": "admin"}

Row = tuple[str, str, str, Any]
C = "/api/v1/conversations/{conv}"

MATRIX: list[Row] = [
    # pages and session
    ("GET", "/", "public", None),
    ("GET", "/login", "public", None),
    ("POST", "/login", "public", None),
    ("POST", "/logout", "public", None),
    ("GET", "/inbox", "page", None),
    ("GET", "/admin", "page:admin", None),
    ("GET", "/demo", "public", None),
    ("GET", "/widget.js", "public", None),
    ("GET", "/static/{static}", "public", None),
    ("GET", "/healthz", "public", None),
    ("GET", "/api/v1/me", "agent", None),
    # conversations
    ("GET", "/api/v1/conversations", "agent", None),
    ("GET", C, "agent:inbox", None),
    ("POST", C + "/messages", "agent:inbox", {"text": "matrix"}),
    ("POST", C + "/assign", "agent:inbox", {}),
    ("POST", C + "/status", "agent:inbox", {"status": "open"}),
    ("GET", C + "/reply-options", "agent:inbox", None),
    ("GET", C + "/templates", "agent:inbox", None),
    ("POST", C + "/template", "agent:inbox", {"name": "none", "language": "en"}),
    ("POST", C + "/uploads", "agent:inbox", None),
    ("GET", C + "/callbacks", "agent:inbox", None),
    ("GET", C + "/script", "agent:inbox", None),
    ("POST", C + "/script", "agent:inbox", {"script_id": 999999, "step": "s", "value": None}),
    ("GET", "/api/v1/messages/{message}/raw", "agent:inbox", None),
    ("GET", "/api/v1/messages/{message}/attachments/{index}", "agent:inbox", None),
    ("POST", "/api/v1/inboxes/{inbox}/messages", "public", None),
    # contacts
    ("GET", "/api/v1/contacts/{contact}/context", "agent:inbox", None),
    ("GET", "/api/v1/contacts/{contact}/timeline", "agent:inbox", None),
    ("GET", "/api/v1/contacts/{contact}/identities", "agent:inbox", None),
    ("POST", "/api/v1/contacts/{contact}/merge", "agent", None),
    ("POST", "/api/v1/contacts/{contact}/split", "supervisor", None),
    ("POST", "/api/v1/contacts/{contact}/unmerge", "supervisor", None),
    ("POST", "/api/v1/contacts/{contact}/verifications", "agent", None),
    # queues and routing
    ("GET", "/api/v1/routing/offers", "agent", None),
    ("GET", "/api/v1/routing/queues", "agent", None),
    ("GET", "/api/v1/routing/presence", "agent", None),
    ("PUT", "/api/v1/routing/presence", "agent", None),
    ("POST", "/api/v1/routing/presence", "agent", None),
    ("POST", "/api/v1/work-items/{item}/accept", "agent", None),
    ("POST", "/api/v1/work-items/{item}/decline", "agent", None),
    ("POST", "/api/v1/work-items/{item}/pick", "agent", None),
    ("POST", "/api/v1/work-items/{item}/complete", "agent", None),
    ("POST", "/api/v1/work-items/{item}/reassign", "supervisor", None),
    ("POST", "/api/v1/work-items/{item}/transfer", "agent", None),
    ("GET", "/api/v1/routing/config", "admin", None),
    ("PUT", "/api/v1/routing/config", "admin", None),
    ("GET", "/api/v1/routing/config/versions", "admin", None),
    ("GET", "/api/v1/routing/agents/{agent}", "admin", None),
    ("PUT", "/api/v1/routing/agents/{agent}", "admin", None),
    # voice
    ("GET", "/api/v1/calls", "agent", None),
    ("GET", "/api/v1/calls/{item}", "agent", None),
    ("POST", "/api/v1/calls/{item}/wrapup", "agent", None),
    ("GET", "/api/v1/voice/dispositions", "agent", None),
    ("PUT", "/api/v1/voice/dispositions", "admin", None),
    ("GET", "/api/v1/voice/scripts", "agent", None),
    ("POST", "/api/v1/voice/scripts", "admin", None),
    ("GET", "/api/v1/voice/config", "admin", None),
    ("POST", "/api/v1/voice/cti-endpoints", "admin", None),
    ("PUT", "/api/v1/voice/cti-endpoints/{item}", "admin", None),
    ("PUT", "/api/v1/voice/extensions", "admin", None),
    ("PUT", "/api/v1/voice/originators/{inbox}", "admin", None),
    ("POST", "/api/v1/callbacks", "public", None),
    ("GET", "/api/v1/callbacks/status/{inbox}", "public", None),
    ("POST", "/api/v1/callbacks/{item}/call", "agent", None),
    ("POST", "/twilio/voice/{inbox}/status", "public", None),
    ("POST", "/cti/{inbox}/events", "public", None),
    ("POST", "/api/v1/cti/{inbox}", "public", None),
    # administration
    ("GET", "/api/v1/admin/inboxes", "admin", None),
    ("POST", "/api/v1/admin/inboxes", "admin", None),
    ("GET", "/api/v1/admin/inboxes/{inbox}", "admin", None),
    ("PATCH", "/api/v1/admin/inboxes/{inbox}", "admin", None),
    ("PUT", "/api/v1/admin/inboxes/{inbox}/account", "admin", None),
    ("PUT", "/api/v1/admin/inboxes/{inbox}/members", "admin", None),
    ("POST", "/api/v1/admin/inboxes/{inbox}/rotate-secret", "admin", None),
    ("GET", "/api/v1/admin/inboxes/{inbox}/templates", "admin", None),
    ("PUT", "/api/v1/admin/inboxes/{inbox}/templates", "admin", None),
    ("GET", "/api/v1/admin/inboxes/{inbox}/acknowledgement", "admin", None),
    ("PUT", "/api/v1/admin/inboxes/{inbox}/acknowledgement", "admin", None),
    ("GET", "/api/v1/admin/agents", "admin", None),
    ("POST", "/api/v1/admin/agents", "admin", None),
    ("PATCH", "/api/v1/admin/agents/{agent}", "admin", None),
    ("GET", "/api/v1/inboxes/{inbox}/prechat", "admin", None),
    ("PUT", "/api/v1/inboxes/{inbox}/prechat", "admin", None),
    ("POST", "/api/v1/widget/prechat", "public", None),
    ("OPTIONS", "/api/v1/widget/prechat", "public", None),
    ("GET", "/api/v1/widget/form", "public", None),
    # bots
    ("POST", "/api/v1/bots", "admin", None),
    ("GET", "/api/v1/bots", "supervisor", None),
    ("PATCH", "/api/v1/bots/{bot}", "admin", None),
    ("POST", "/api/v1/bots/{bot}/disable", "admin", None),
    ("POST", "/api/v1/bots/{bot}/enable", "admin", None),
    ("POST", "/api/v1/bots/{bot}/token", "admin", None),
    ("POST", "/api/v1/bots/{bot}/webhook-secret", "admin", None),
    ("GET", "/api/v1/bots/{bot}/deliveries", "admin", None),
    ("POST", "/api/v1/queues/{queue}/bot", "admin", None),
    ("GET", "/api/v1/bot/conversations", "bot", None),
    ("POST", "/api/v1/bot/conversations/{conv}/messages", "bot", None),
    ("POST", "/api/v1/bot/conversations/{conv}/handoff", "bot", None),
    # provider webhooks
    ("POST", "/webhooks/twilio/sms", "public", None),
    ("GET", "/webhooks/meta", "public", None),
    ("POST", "/webhooks/meta", "public", None),
    ("POST", "/webhooks/telegram/{inbox}", "public", None),
    # dev mailbox (make dev only)
    ("GET", "/dev/mailbox", "public", None),
    ("GET", "/dev/mailbox.json", "public", None),
    # sockets: a refused handshake closes with 1008
    ("WS", "/ws/agent", "agent", None),
    ("WS", "/ws/widget", "public", None),
    ("WS", "/ws/bot", "bot", None),
]
