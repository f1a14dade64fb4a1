"""HTML bodies: sanitised with nh3 (never regexes) for a sandboxed frame, remote
images removed (and remembered, so the agent can choose to load them), and a plain
text rendering for mails that have no text part."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

import nh3

_TAGS = set(nh3.ALLOWED_TAGS) | {"font", "tfoot"}
_DROP_WITH_CONTENT = {"script", "style", "title", "noscript", "template", "iframe", "object",
                      "embed", "svg", "math", "textarea", "select", "head"}
_COMMON = {"style", "dir", "lang", "title", "align", "valign", "bgcolor", "width", "height"}
_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": _COMMON,
    "font": {"color", "face", "size"},
    "table": set(nh3.ALLOWED_ATTRIBUTES.get("table", set())) | {"border", "cellpadding", "cellspacing"},
    "img": {"src", "alt", "width", "height", "title"},
}
_STYLE_PROPERTIES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style", "font-weight",
    "text-align", "text-decoration", "text-indent", "text-transform", "line-height",
    "letter-spacing", "white-space", "vertical-align", "direction", "list-style-type",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "border", "border-top", "border-right", "border-bottom", "border-left", "border-color",
    "border-style", "border-width", "border-collapse", "border-spacing", "border-radius",
    "width", "height", "max-width", "min-width", "display",
}
_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid", "data"}
_INLINE_IMAGE_TYPES = ("data:image/png", "data:image/gif", "data:image/jpeg", "data:image/webp")
MAX_REMOTE_LISTED = 100
REMOTE_IMAGE_PLACEHOLDER = "cid:omnihub-remote-image-"


@dataclass(frozen=True, slots=True)
class SanitisedHtml:
    html: str
    remote_images: tuple[str, ...]  # the removed remote image URLs (first 100)
    had_remote_images: bool


def _is_remote(url: str) -> bool:
    lowered = url.strip().lower()
    return lowered.startswith(("http:", "https:", "//", "ftp:"))


def _absolute_or_nothing(url: str) -> str | None:
    """Relative URLs mean nothing in a mail (and would point at our app): dropped.
    Scheme-relative ones (``//host/x``) become https, so remote images are caught."""
    return "https:" + url if url.startswith("//") else None


def sanitise_html(html: str) -> SanitisedHtml:
    """Allow-list sanitising; images only from cid: or small data: URIs."""
    remote: list[str] = []
    seen_remote = False

    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        nonlocal seen_remote
        lowered = value.strip().lower()
        if attr in ("src", "href", "cite") and lowered.startswith("data:"):
            return value if tag == "img" and lowered.startswith(_INLINE_IMAGE_TYPES) else None
        if tag == "img" and attr == "src" and _is_remote(value):
            seen_remote = True
            if len(remote) < MAX_REMOTE_LISTED:
                remote.append(value.strip())
                # An inert placeholder (cid: never hits the network) the inbox swaps for
                # remote_images[n] when the agent clicks "Load images".
                return f"{REMOTE_IMAGE_PLACEHOLDER}{len(remote) - 1}"
            return None
        return value

    cleaned = nh3.clean(
        html,
        tags=_TAGS - _DROP_WITH_CONTENT,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=_ATTRIBUTES,
        attribute_filter=attribute_filter,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes=_URL_SCHEMES,
        filter_style_properties=_STYLE_PROPERTIES,
        url_relative=_absolute_or_nothing,
    )
    return SanitisedHtml(cleaned, tuple(remote), seen_remote)


_BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
          "ul", "ol", "blockquote", "pre", "hr", "section", "article", "header", "footer"}
_SKIP = {"script", "style", "head", "title", "noscript", "template", "iframe", "object", "svg"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip = 0
        self.quote = 0
        self.pre = 0

    def _break(self) -> None:
        text = "".join(self.current)
        text = text if self.pre else " ".join(text.split())
        for line in text.split("\n") if self.pre else [text]:
            self.lines.append("> " * self.quote + line if self.quote else line)
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag in _BLOCK:
            if self.current or tag in ("br", "p"):
                self._break()
            self.quote += tag == "blockquote"
            self.pre += tag == "pre"
        elif tag == "li":
            self.current.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            if self.current:
                self._break()
            if tag == "blockquote":
                self.quote = max(0, self.quote - 1)
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.current.append(data)


def html_to_text(html: str) -> str:
    """A readable plain-text rendering (blockquotes become "> " quotes)."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient; this is only a last resort
        return ""
    if parser.current:
        parser._break()
    out: list[str] = []
    for line in parser.lines:
        line = line.rstrip()
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
