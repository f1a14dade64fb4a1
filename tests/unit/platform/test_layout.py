"""The shape of hub/ (docs/architecture.md "Layout of hub/"): hub/ names channels only in
hub/channels_table.py (their facts), hub/ingest_steps.py (their ingest steps) and the
channel-specific packages; the generic conversation pipeline names none at all; and the
channel table covers every channel of the schema."""

from __future__ import annotations

import ast
import pathlib
import re
import typing

from hub.admin.rules import PROVIDERS, InboxChannel
from hub.channels_table import CHANNELS, ChannelIdentityKind, channels_where
from hub.contacts.rules.identity import PHONE_KINDS, SOCIAL_KINDS
from hub.routing.config import DEFAULT_WEIGHTS
from hub.schema import Channel

ROOT = pathlib.Path(__file__).resolve().parents[3]
GENERIC = ROOT / "hub" / "conversations"
# Where hub/ may name channels: their facts, their ingest steps, their own packages.
CHANNEL_HOMES = ("hub/channels_table.py", "hub/ingest_steps.py", "hub/email/",
                 "hub/messaging/", "hub/voice/", "hub/bots/")
# Mentions not moved yet, by file: this list may only shrink (test_known_mentions_exist).
KNOWN = {
    # Settings are named as operators set them (OMNIHUB_EMAIL_DOMAIN, ...).
    "hub/config.py": {"email_subject_fallback", "twilio_api_base", "telegram_api_base",
                      "email_domain", "email_ack_window_s"},
    # The closed event union holds voice's call records.
    "hub/schema.py": {"hub.voice.rules.callbacks", "hub.voice.rules.callstate"},
    # Verification codes go out by SMS or email and are checked in a chat conversation.
    "hub/contacts/rules/verification.py": {"'sms'"},
    "hub/contacts/actions/verification.py": {"email_domain", "sms_account",
                                             "chat_conversation"},
    "hub/contacts/store/verification.py": {
        "chat_conversation", "sms_account",
        "SELECT id, inbox, contact_identity FROM conversations WHERE contact_id = $1 AND"
        " channel = 'chat' AND status <> 'resolved' AND ($2::bigint IS NULL OR id = $2) AND"
        " ($3::text[] IS NULL OR inbox = ANY($3::text[])) ORDER BY id DESC LIMIT 1",
        "SELECT i.slug, a.external_id, a.account_sid, a.auth_token FROM inboxes i JOIN"
        " channel_accounts a ON a.inbox = i.slug WHERE i.channel = 'sms' AND a.provider ="
        " 'twilio' AND a.external_id <> '' AND a.account_sid <> '' ORDER BY i.slug LIMIT 1",
        "SELECT slug, email_address, email_display_name FROM inboxes WHERE channel = 'email'"
        " AND coalesce(email_address, '') <> '' ORDER BY slug LIMIT 1"},
    # The pre-chat form is the chat widget's.
    "hub/contacts/store/prechat.py": {"_chat_inbox", "'chat'"},
}
# "bot" is an author as much as a channel; the provider channels are what must not leak.
NAMES = sorted(set(CHANNELS) - {"bot"})
# Record fields (columns, wire fields) are data, not the channel: a person's address
# (``Agent(email=r["email"])``), an email inbox's From address and name.
FIELDS = {"email", "email_address", "email_display_name"}
# "email" alone is also an address kind and a contact's column, "api" also our REST API
# (a config saved ``source="api"``): as bare literals they count where they are compared
# with a channel. In names the words "email address" are an address.
AMBIGUOUS = {"email", "api"}
_QUOTED = re.compile(r"'(" + "|".join(n for n in NAMES if n not in AMBIGUOUS) + r")'")
_QUOTED_CHANNEL = re.compile(r"channel\s*(?:=|<>|!=)\s*'(?:" + "|".join(AMBIGUOUS) + ")'")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _words(identifier: str) -> set[str]:
    """``SEND_EMAIL_ACK`` -> send, email, ack; ``EmailOptions`` -> email, options; the
    words "email address" are an address (``check_email_address``), not the channel."""
    if identifier in FIELDS:
        return set()
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", identifier)
    words = [w.lower() for w in re.split(r"[\s_.]+", spaced) if w]
    return {w for i, w in enumerate(words)
            if not (w == "email" and words[i + 1:i + 2] == ["address"])}


def _channel_compared(tree: ast.AST) -> set[int]:
    """Literals compared with a channel: ``x.channel == "email"``, ``channel in (...)``."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and "channel" in ast.unparse(node).lower():
            for side in ast.walk(node):
                if isinstance(side, ast.Constant):
                    ids.add(id(side))
    return ids


def _mentions(source: str) -> list[tuple[int, str, str]]:
    """(line, what, why) of each channel name in code: string literals (a name alone, or
    quoted in SQL) and words of identifiers and imported modules. Docstrings and comments
    may explain."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    compared = _channel_compared(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and node.slice.value in FIELDS:
            skip.add(id(node.slice))  # a record's column
        names: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            value = node.value
            bare = value.lower() in NAMES and (value.lower() not in AMBIGUOUS
                                               or id(node) in compared)
            if bare or _QUOTED.search(value) or _QUOTED_CHANNEL.search(value):
                found.append((node.lineno, repr(value) if bare else value, "literal"))
            continue
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        elif isinstance(node, ast.keyword) and node.arg:
            names = [node.arg]
        elif isinstance(node, ast.alias):
            names = [node.name, node.asname or ""]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        for name in names:
            hit = _words(name) & set(NAMES)
            if hit:
                found.append((getattr(node, "lineno", 0), name, ", ".join(sorted(hit))))
    return found


def channel_mentions(source: str) -> list[str]:
    return [f"line {line}: {what}" + (f" ({why})" if why != "literal" else "")
            for line, what, why in _mentions(source)]


def _offenders(files: list[pathlib.Path]) -> dict[str, list[str]]:
    offenders = {}
    for path in files:
        hits = channel_mentions(path.read_text(encoding="utf-8"))
        if hits:
            offenders[path.relative_to(ROOT).as_posix()] = hits
    return offenders


def _outside_homes() -> list[pathlib.Path]:
    return [p for p in sorted((ROOT / "hub").rglob("*.py"))
            if not p.relative_to(ROOT).as_posix().startswith(CHANNEL_HOMES)]


def test_the_generic_pipeline_names_no_channel():
    files = sorted(GENERIC.rglob("*.py"))
    assert len(files) > 3  # the package exists: the check is not vacuous
    offenders = {}
    for path in files:
        hits = channel_mentions(path.read_text(encoding="utf-8"))
        if hits:
            offenders[path.relative_to(ROOT).as_posix()] = hits
    assert offenders == {}, ("hub/conversations/ names channels; ask hub/channels_table.py"
                             " or register a step in hub/ingest_steps.py: " + repr(offenders))


def test_the_check_sees_what_it_must():
    sample = (
        'from hub.email.store.cases import EmailOptions\n'
        'x = "whatsapp"\n'
        'q = "SELECT 1 WHERE channel = \'voice\'"\n'
        'SEND_EMAIL_ACK = 1\n'
        'def f():\n    """Replies on chat are live."""\n    return is_live(c)\n'
    )
    hits = channel_mentions(sample)
    assert len(hits) == 5, hits  # module, alias, literal, SQL literal, constant name
    # Column names and a person's address are data.
    assert channel_mentions('cols = "a.email, a.phone"\nAgent(email=r["email"], n=a.email)\n') == []
    assert len(channel_mentions('steps(email=options)\n')) == 0  # a bare field-like keyword
    assert channel_mentions('steps(email_options=o)\n') != []


def test_hub_names_channels_only_in_the_table_and_their_packages():
    files = _outside_homes()
    assert len(files) > 30  # most of hub/ is scanned: the check is not vacuous
    new = {}
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        known = KNOWN.get(rel, set())
        hits = [f"line {line}: {what} ({why})" for line, what, why
                in _mentions(path.read_text(encoding="utf-8")) if what not in known]
        if hits:
            new[rel] = hits
    assert new == {}, ("hub/ names channels outside hub/channels_table.py and the channel"
                       " packages; add a fact to ChannelFacts and ask the table, or move the"
                       " code into the channel's package: " + repr(new))


def test_known_mentions_exist():
    """The KNOWN list only shrinks: an entry whose mention is gone must be deleted."""
    gone = {}
    for rel, known in KNOWN.items():
        seen = {what for _, what, _ in _mentions((ROOT / rel).read_text(encoding="utf-8"))}
        if known - seen:
            gone[rel] = sorted(known - seen)
    assert gone == {}, "delete these from KNOWN: " + repr(gone)


def test_the_wider_check_tells_addresses_from_the_channel():
    # An address is data: a person's, an inbox's From, the identity kind, the column.
    assert channel_mentions(
        'def check_email_address(v): return _EMAIL_ADDRESS.match(v)\n'
        'email = check_email_address("email", body.email)\n'
        'if kind == "email": pass\n'
        'q = "SELECT 1 FROM contacts c WHERE k.col = \'email\' AND c.email = $1"\n'
        'class InboxCreate:\n    email_address: str = ""\n    email_display_name: str = ""\n'
    ) == []
    # Compared with a channel, in SQL or in code, it is the channel.
    hits = channel_mentions(
        'if body.channel == "email": pass\n'
        'if current["channel"] != "email": pass\n'
        'q = "SELECT 1 FROM inboxes WHERE channel = \'email\'"\n'
        'def email_ack(): pass\n'
    )
    assert len(hits) == 4, hits


def test_every_schema_channel_has_facts():
    assert set(typing.get_args(Channel)) == set(CHANNELS)


def test_the_typed_spellings_agree_with_the_table():
    assert set(typing.get_args(InboxChannel)) == channels_where(inbox=True)
    assert set(typing.get_args(ChannelIdentityKind)) == {
        name for name, f in CHANNELS.items() if f.identity is not None}


def test_facts_moved_into_the_table_keep_their_values():
    assert DEFAULT_WEIGHTS == {
        "voice": 60, "chat": 20, "email": 12, "sms": 15, "whatsapp": 20, "messenger": 20,
        "instagram": 20, "telegram": 20, "api": 12, "bot": 12}
    assert PROVIDERS == {"sms": ("twilio",), "whatsapp": ("twilio", "meta"),
                         "messenger": ("meta",), "instagram": ("meta",),
                         "telegram": ("telegram",)}
    assert SOCIAL_KINDS == ("whatsapp", "messenger", "instagram", "telegram")
    assert PHONE_KINDS == ("phone", "whatsapp")
