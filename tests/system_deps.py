"""Tests that need a Debian package skip locally with a clear reason, and fail in CI.

``.ci/run`` installs the packages and sets ``OMNIHUB_REQUIRE_SYSTEM_DEPS=1``, which turns
every such skip into a failure so a missing peer cannot hide a broken test.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_ENV = "OMNIHUB_REQUIRE_SYSTEM_DEPS"
CHROMIUM = "/usr/bin/chromium"


def required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def require(condition: object, reason: str) -> None:
    """Skip with ``reason`` unless ``condition`` holds; fail instead when CI requires it."""
    if condition:
        return
    if required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1, so this is an error)", pytrace=False)
    pytest.skip(reason)


def require_chromium() -> str:
    """Path of Debian's chromium, for Playwright's ``executable_path``."""
    path = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    require(path, "Debian package chromium not installed (apt-get install chromium)")
    assert path is not None
    return path


def require_dovecot() -> str:
    """Path of Debian's dovecot binary (package dovecot-imapd)."""
    path = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if os.access("/usr/sbin/dovecot", os.X_OK) else None
    )
    require(path, "Debian package dovecot-imapd not installed (apt-get install dovecot-imapd)")
    assert path is not None
    return path
