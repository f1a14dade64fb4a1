"""Hostile mails (tests/fixtures/email_hostile.py) are parsed within bounded time and memory: each
in a child process limited to 1 GiB of address space, behind a generous kill timeout
(a hang guard, not a timing assertion). The headers always survive; what could not be
read is named in the defects.

OMNIHUB_HOSTILE_MAIL_BYTES sets the size of each mail (default 4 MiB; the default
receive limit, 31457280, is what docs/email.md reports)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from channels.email.limits import MAX_HTML_OUT_CHARS, MAX_TEXT_CHARS
from tests.fixtures.email_hostile import BATTERY, SUBJECT

ROOT = Path(__file__).resolve().parents[3]
SIZE = int(os.environ.get("OMNIHUB_HOSTILE_MAIL_BYTES", str(4 * 1024 * 1024)))
HANG_GUARD_S = 600

# The reason each mail must be flagged with (a prefix of one of its defects); mails not
# listed only have to stay within the bounds.
REASONS = {
    "deep_blockquote": "HtmlTooDeep",
    "deep_div_and_lists": "HtmlTooDeep",
    "base64_deep_html": "HtmlTooDeep",
    "base64_text_bomb": "BodyTruncated",
    "long_line_without_newline": "BodyTruncated",
    "deep_multipart": "TooDeep",
    "deep_message_rfc822": "TooDeep",
    "many_tiny_parts": "Too",  # TooManyParts, or TooManyLines at larger sizes
    "many_parts_the_scan_cannot_see": "Too",
    "unterminated_boundaries": "TooManyParts",
    "delivery_status_blocks": "Too",
    "deep_multipart_rfc2231_boundaries": "Too",
    "many_boundary_words_and_lines": "Too",
    "short_lines": "TooManyLines",
    "huge_header_block": "HeadersTooLarge",
    "nested_comments_in_from": "UnusableFrom",
}


def run_child(name: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-m", "tests.fixtures.email_hostile", name, str(SIZE)],
                          cwd=ROOT, capture_output=True, timeout=HANG_GUARD_S, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    result: dict[str, object] = json.loads(proc.stdout.decode().splitlines()[-1])
    print(json.dumps(result))  # -s shows seconds and peak memory per mail
    return result


@pytest.mark.parametrize("name", sorted(BATTERY))
def test_hostile_mail_is_parsed_within_bounds_and_keeps_its_headers(name: str) -> None:
    out = run_child(name)
    assert isinstance(out["text_chars"], int) and out["text_chars"] <= MAX_TEXT_CHARS
    assert isinstance(out["quoted_chars"], int) and out["quoted_chars"] <= MAX_TEXT_CHARS
    assert isinstance(out["html_chars"], int) and out["html_chars"] <= MAX_HTML_OUT_CHARS
    defects = out["defects"]
    assert isinstance(defects, list)
    if name == "nested_comments_in_from":
        assert out["from"] is None and out["malformed"]
    else:
        assert out["from"] == "mallory@hostile.example"
    assert str(out["subject"]).startswith(SUBJECT)
    if name in REASONS:
        assert out["malformed"] and any(str(d).startswith(REASONS[name]) for d in defects), defects
    if "BodyNotParsed" in defects:
        assert out["text_chars"] == 0  # never the raw MIME shown as the customer's text
