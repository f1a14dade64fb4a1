"""The README documents every environment variable the hub reads: every ``Settings``
field (``settings_from_env`` reads ``OMNIHUB_<FIELD>`` for each) and the variables
``make dev`` and the CLI read by name."""

from __future__ import annotations

import re
from pathlib import Path

from hub.config import Settings, settings_from_env

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text()
# Spelled out in full: "`OMNIHUB_SMTP_RELAY_HOST` / `_PORT`" does not document _PORT.
DOCUMENTED = set(re.findall(r"`(OMNIHUB_[A-Z0-9_]+)`", README))


def test_every_settings_field_is_in_the_readme() -> None:
    wanted = {"OMNIHUB_" + f.upper() for f in Settings.__struct_fields__}
    assert wanted - DOCUMENTED == set()


def test_the_documented_names_are_the_ones_settings_reads() -> None:
    # Guards the rule the test above relies on: a field is read as OMNIHUB_<FIELD>.
    s = settings_from_env({"OMNIHUB_SMTP_RELAY_PORT": "2587", "OMNIHUB_KEY_PREFIX": "t:"})
    assert (s.smtp_relay_port, s.key_prefix) == (2587, "t:")


def test_dev_and_cli_variables_are_in_the_readme() -> None:
    names: set[str] = set()
    for path in ("web/devrun.py", "web/embedded.py", "web/cli.py"):
        names |= set(re.findall(r"\"(OMNIHUB_[A-Z0-9_]+)\"", (ROOT / path).read_text()))
        names |= set(re.findall(r"\b(OMNIHUB_[A-Z0-9_]+)=", (ROOT / path).read_text()))
    assert "OMNIHUB_SMTP_PORT" in names
    assert names - DOCUMENTED == set()
