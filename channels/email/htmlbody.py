"""HTML bodies: sanitised with nh3 (never regexes) for a sandboxed frame, remote
images removed (and remembered, so the agent can choose to load them), and a plain
text rendering for mails that have no text part."""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass
from html.parser import HTMLParser

import nh3

from channels.email.limits import MAX_HTML_DEPTH, MAX_QUOTE_DEPTH, MAX_TEXT_CHARS

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


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]{0,40})")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
         "source", "track", "wbr", "keygen", "frame", "basefont", "bgsound", "image"}
# Closed implicitly by their next sibling, so they do not nest in the parsed tree.
_SELF_ENDING = {"p", "li", "dt", "dd", "tr", "td", "th", "tbody", "thead", "tfoot", "option",
                "optgroup", "rb", "rt", "rp", "rtc", "colgroup", "caption", "html", "head",
                "body"}


def too_deep(html: str, limit: int = MAX_HTML_DEPTH) -> bool:
    """True when elements may nest deeper than ``limit``: html5ever (under nh3) checks
    the open-element stack for most start tags, so its cost grows with n x depth
    (30 000 nested <div> take seconds, 100 000 minutes). Open minus close tags is an
    over-estimate for sloppy HTML, which only costs that mail its formatted view."""
    depth = 0
    for m in _TAG.finditer(html):
        name = m.group(2).lower()
        if name in _VOID or name in _SELF_ENDING:
            continue
        if m.group(1):
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > limit:
                return True
    return False


_ANY_TAG = re.compile(r"<[^<>]*>?")  # [^<>]: linear even on "<<<<" without any ">"


def strip_tags(html: str) -> str:
    """Plain text for HTML too deep to sanitise: tags dropped, entities decoded."""
    text = htmllib.unescape(_ANY_TAG.sub(" ", html))
    return "\n".join(" ".join(line.split()) for line in text.splitlines()).strip()


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
        self.size = 0  # characters in lines; past MAX_TEXT_CHARS the rest is ignored

    def _break(self) -> None:
        text = "".join(self.current)
        self.current = []
        text = text if self.pre else " ".join(text.split())
        # Levels past MAX_QUOTE_DEPTH share one prefix: the prefix per line would
        # otherwise grow with the nesting (260 KB of <blockquote> gave 400 MB of text).
        prefix = "> " * min(self.quote, MAX_QUOTE_DEPTH)
        for line in text.split("\n") if self.pre else [text]:
            if self.size >= MAX_TEXT_CHARS:
                return
            self.lines.append(prefix + line)
            self.size += len(prefix) + len(line) + 1

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
        if not self.skip and self.size < MAX_TEXT_CHARS:
            self.current.append(data)


def html_to_text(html: str) -> str:
    """A readable plain-text rendering (blockquotes become "> " quotes), at most
    MAX_TEXT_CHARS long. Give it sanitised HTML (``sanitise_html(...).html``): the
    stdlib HTMLParser is quadratic on some malformed input ("</ " repeated), which
    the sanitiser's serialisation never contains."""
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
    return "\n".join(out).strip()[:MAX_TEXT_CHARS]
