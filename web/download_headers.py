"""Response headers for files agents download (email blobs, provider media): an inert
Content-Type for anything a browser would run, and a safe ``Content-Disposition``."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

_TOKEN = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_ACTIVE = {"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml",
           "application/xml", "text/javascript", "application/javascript",
           "application/ecmascript", "text/ecmascript", "application/x-shockwave-flash",
           "text/xsl", "application/pdf-active", "multipart/x-mixed-replace"}


def safe_content_type(declared: str) -> str:
    ctype = declared.split(";", 1)[0].strip().lower()
    if not _TOKEN.match(ctype) or ctype in _ACTIVE or ctype.endswith(("+xml", "/xml")):
        return "application/octet-stream"
    return ctype


def content_disposition(filename: str, fallback: str) -> str:
    """``attachment`` with an ASCII fallback and the RFC 6266/5987 UTF-8 name."""
    name = "".join(c for c in filename if unicodedata.category(c)[0] != "C").strip()
    name = name.replace("/", "_").replace("\\", "_")[:200] or fallback
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
