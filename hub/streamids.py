"""Redis stream ids ("<ms>-<seq>") as comparable values. Pure."""

from __future__ import annotations

from hub.errors import BadInput

StreamId = tuple[int, int]

ZERO: StreamId = (0, 0)


def parse_stream_id(raw: str | bytes) -> StreamId:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, sep, seq = text.partition("-")
    if not ms.isdigit() or (sep and not seq.isdigit()) or len(text) > 41:
        raise BadInput(f"not a stream id: {text[:50]!r}", code="bad_last_id")
    return int(ms), int(seq or 0)


def format_stream_id(sid: StreamId) -> str:
    return f"{sid[0]}-{sid[1]}"
