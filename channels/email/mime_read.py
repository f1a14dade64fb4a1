"""Raw bytes → stdlib ``Message``, bounded: header values are cut before the stdlib's
recursive-descent header parsers see them (slow, even quadratic, on long hostile
values), the parser may build at most ``MAX_PART_OBJECTS`` message objects, and a body
that cannot be read leaves a headers-only message instead (From, Subject, threading
headers survive). Pure."""

from __future__ import annotations

from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import EmailPolicy
from typing import Any

from channels.email.limits import (
    MAX_HEADER_BYTES,
    MAX_HEADER_CHARS,
    MAX_MIME_PARAMS,
    MAX_PART_OBJECTS,
    header_block_end,
)


class BodyUnreadable(Exception):
    """The stdlib parser could not, or may not, read this body; str() is the reason."""


def bound_header_value(name: str, value: str) -> str:
    """What the structured parsers get: at most MAX_HEADER_CHARS, and for Content-*
    headers at most MAX_MIME_PARAMS parameters (their parser is quadratic in them)."""
    if name.lower().startswith("content-") and value.count(";") >= MAX_MIME_PARAMS:
        value = ";".join(value.split(";", MAX_MIME_PARAMS)[:MAX_MIME_PARAMS])
    return value[:MAX_HEADER_CHARS]


class BoundedPolicy(EmailPolicy):
    """``policy.default`` whose header values are bounded before parsing (the raw
    values stay intact in ``raw_items()``)."""

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        if isinstance(value, str):
            value = bound_header_value(name, value)
        return super().header_fetch_parse(name, value)


POLICY = BoundedPolicy()


def _counting_factory() -> Any:
    made = 0

    def factory(policy: EmailPolicy) -> EmailMessage:
        nonlocal made
        made += 1
        if made > MAX_PART_OBJECTS:
            raise BodyUnreadable(f"TooManyParts: over {MAX_PART_OBJECTS} MIME objects")
        return EmailMessage(policy=policy)

    return factory


def read_message(raw: bytes) -> Message:
    """The whole message. Raises BodyUnreadable (never anything else for bad input)."""
    try:
        return BytesParser(_class=_counting_factory(), policy=POLICY).parsebytes(raw)
    except BodyUnreadable:
        raise
    except RecursionError:
        raise BodyUnreadable("TooDeep: nested beyond what the parser can follow") from None
    except Exception as exc:  # the feed parser is lenient; this is a last resort
        raise BodyUnreadable(f"ParseError: {type(exc).__name__}") from None


def read_headers(raw: bytes) -> Message:
    """The top-level headers only (at most MAX_HEADER_BYTES of them), empty body."""
    end = min(header_block_end(raw), MAX_HEADER_BYTES)
    block = raw[:end]
    if end < len(raw) and end == MAX_HEADER_BYTES:
        block = block[:max(block.rfind(b"\n"), 0)]  # do not cut a header in half
    return BytesHeaderParser(policy=POLICY).parsebytes(block + b"\r\n\r\n")
