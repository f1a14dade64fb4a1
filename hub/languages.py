"""Language tags compared the BCP 47 way (RFC 4647 "lookup" fallback). Pure.

Browsers send region tags (``navigator.language`` is ``en-US``), agents and templates
list plain languages (``en``). Comparing the strings exactly offered a widget's
``en-US`` callback to nobody. Every language comparison in the hub goes through here:

- tags are case-insensitive and ``_`` counts as ``-`` (``pt_BR`` == ``pt-br``);
- a tag matches a listed language when the listed one is the tag or one of its
  prefixes at a subtag boundary: ``en-US`` → ``en-us``, ``en``; ``zh-Hant-TW`` →
  ``zh-hant-tw``, ``zh-hant``, ``zh``;
- a more specific listed language serves a plain request too (an agent who lists
  ``en-GB`` speaks ``en``), but ``en-GB`` never serves ``en-US``.
"""

from __future__ import annotations

from collections.abc import Iterable


def normalize_tag(tag: str | None) -> str:
    """``' en_US '`` → ``'en-us'``; ``None`` → ``''``."""
    return (tag or "").strip().replace("_", "-").lower().strip("-")


def fallback_chain(tag: str | None) -> list[str]:
    """The tag and its shorter prefixes, most specific first (``en-us``, ``en``)."""
    parts = [p for p in normalize_tag(tag).split("-") if p]
    return ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]


def primary_language(tag: str | None) -> str:
    """``en-US`` → ``en``; ``''`` when there is no tag."""
    chain = fallback_chain(tag)
    return chain[-1] if chain else ""


def language_matches(wanted: str | None, offered: str | None) -> bool:
    """Whether someone (or something) in ``offered`` serves a request in ``wanted``:
    one tag is the other or a prefix of it at a subtag boundary."""
    a, b = normalize_tag(wanted), normalize_tag(offered)
    if not a or not b:
        return False
    return a == b or a.startswith(b + "-") or b.startswith(a + "-")


def speaks(wanted: str | None, offered: Iterable[str]) -> bool:
    """Whether any of ``offered`` serves ``wanted`` (see ``language_matches``)."""
    return any(language_matches(wanted, o) for o in offered)


def lookup(wanted: str | None, available: Iterable[str]) -> str | None:
    """RFC 4647 lookup: the entry of ``available`` (as given) for the most specific
    prefix of ``wanted`` that is listed; None when none is."""
    by_tag: dict[str, str] = {}
    for a in available:
        by_tag.setdefault(normalize_tag(a), a)
    for candidate in fallback_chain(wanted):
        if candidate in by_tag:
            return by_tag[candidate]
    return None
