"""Edits of the stored policy list, one policy at a time: pure, on plain mappings.

The store applies one of these to the current document under its lock, then validates
the whole result (``load.load_policies``): an edit only places the policy; what makes it
valid is the loader's business. ``policy_error`` re-words a loader error about the
edited policy so it names the field inside that policy (``targets.resolution.seconds``),
which is what the client sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hub.errors import Conflict, NotFound
from hub.sla.rules.load import SlaPolicyError

# A policy id that cannot be confused with the fixed ``/api/v1/sla/policies/versions``.
RESERVED_IDS = frozenset({"versions", "order"})
_INDEX = re.compile(r"^policies\[(\d+)\](?:\.(.*))?$")

Policies = list[dict[str, Any]]


def policy_body(data: Any) -> dict[str, Any]:
    """The client's policy: a mapping whose ``id`` is a string (the rest is the loader's)."""
    if not isinstance(data, Mapping):
        raise SlaPolicyError("", "a policy must be a JSON object")
    if not isinstance(data.get("id"), str):
        raise SlaPolicyError("id", "required, a string")
    if data["id"] in RESERVED_IDS:
        raise SlaPolicyError("id", f"{data['id']!r} is reserved")
    return dict(data)


def index_of(policies: Policies, policy_id: str) -> int:
    for i, p in enumerate(policies):
        if p.get("id") == policy_id:
            return i
    raise NotFound(f"no SLA policy {policy_id!r}")


def add(policies: Policies, policy: dict[str, Any]) -> tuple[Policies, int]:
    """Append (evaluated last: an existing catch-all keeps its place before it)."""
    if any(p.get("id") == policy["id"] for p in policies):
        raise Conflict(f"an SLA policy {policy['id']!r} exists already: edit it instead")
    return [*policies, policy], len(policies)


def replace(policies: Policies, policy_id: str, policy: dict[str, Any]) -> tuple[Policies, int]:
    """The same place in the order, new content; the id in the body must be the path's."""
    if policy["id"] != policy_id:
        raise SlaPolicyError("id", f"must be {policy_id!r}, the policy being edited")
    i = index_of(policies, policy_id)
    return [*policies[:i], policy, *policies[i + 1:]], i


def remove(policies: Policies, policy_id: str) -> Policies:
    i = index_of(policies, policy_id)
    return [*policies[:i], *policies[i + 1:]]


def reorder(policies: Policies, ids: Any) -> Policies:
    """The same policies in the order ``ids`` names (each stored policy exactly once)."""
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise SlaPolicyError("ids", "a list of policy ids")
    by_id = {p.get("id"): p for p in policies}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise SlaPolicyError("ids", f"no SLA policy {unknown[0][:64]!r}")
    if len(set(ids)) != len(ids) or len(ids) != len(policies):
        raise SlaPolicyError("ids", "must name every policy exactly once")
    return [by_id[i] for i in ids]


def policy_error(exc: SlaPolicyError, index: int | None) -> SlaPolicyError:
    """The loader's error, named inside the edited policy when it is about that policy
    (an error in another, older policy keeps its document path)."""
    m = _INDEX.match(exc.path)
    if index is None or m is None or int(m.group(1)) != index:
        return exc
    return SlaPolicyError(m.group(2) or "", exc.problem)


def section_error(exc: SlaPolicyError) -> SlaPolicyError:
    """An error in the routing YAML's ``sla:`` section, named from the document's top."""
    return SlaPolicyError(f"sla.{exc.path}" if exc.path else "sla", exc.problem)


def section_version(section: Any) -> int:
    """The section's ``version`` when it is a whole number, else 0 (then refused by
    ``check_section_version``)."""
    version = section.get("version") if isinstance(section, Mapping) else None
    return version if isinstance(version, int) and not isinstance(version, bool) else 0


def check_section_version(section: Any, current: int) -> int:
    """The section's ``version`` must be newer than the stored policies' (like routing's
    own version): a routing YAML edited from an old copy never undoes later changes."""
    if not isinstance(section, Mapping):
        raise SlaPolicyError("", "the policies must be a mapping at the top level")
    version = section.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SlaPolicyError("version", "required, a whole number")
    if version <= current:
        raise SlaPolicyError("version", f"must be > {current} (the stored policies' version)")
    return version
