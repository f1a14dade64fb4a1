"""The SLA policies carried by a routing YAML document (docs/sla.md "In the routing
YAML"): its top-level ``sla:`` section, which routing's loader ignores.

- ``check_routing_section`` / ``store_routing_section``: ``PUT /api/v1/routing/config``
  checks the section (or, without one, that the stored policies still fit) before
  routing stores anything, and stores it right after routing's commit.
- ``store_file_section``: ``omnihub router`` stores the file's section before it starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hub.routing.config import CompiledConfig
from hub.routing.loader import SLA_SECTION, RoutingConfigError, load_config, parse_yaml
from hub.schema import Agent
from hub.sla.rules.edits import check_section_version, section_error
from hub.sla.rules.load import SlaPolicyError, load_policies
from hub.sla.store import policies as store
from web.state import HubState

if TYPE_CHECKING:  # web/ holds no pool of its own (tests/unit/platform/test_layer_sql.py)
    import asyncpg


async def check_routing_section(state: HubState, text: str) -> Mapping[str, Any] | None:
    """The ``sla:`` section of a routing YAML document sent to the routing config API,
    checked against the routing config in the same document before anything is stored
    (``SlaPolicyError`` with a ``sla.`` path). None: no section, or a routing document
    routing itself refuses (its own 422 comes first). Without a section, the stored
    policies must still fit the new routing config: dropping a queue a policy names is
    refused until the policy changes (in the same document or through the SLA API)."""
    try:
        data = parse_yaml(text)
        routing = load_config(data)
    except RoutingConfigError:
        return None
    section = data.get(SLA_SECTION) if isinstance(data, Mapping) else None
    if section is None:
        version, policies = await store.current_document(state.pool)
        try:
            load_policies({"version": max(version, 1), "policies": policies}, routing)
        except SlaPolicyError as exc:
            raise SlaPolicyError(f"sla.{exc.path}" if exc.path else "sla",
                                 f"{exc.problem} (a stored SLA policy; change it first)"
                                 ) from None
        return None
    try:
        check_section_version(section, (await store.current_document(state.pool))[0])
        load_policies(section, routing)
    except SlaPolicyError as exc:
        raise section_error(exc) from None
    if not isinstance(section, Mapping):  # load_policies refused it already
        return None
    return section


async def store_routing_section(state: HubState, agent: Agent, section: Mapping[str, Any],
                                routing: CompiledConfig) -> int:
    """Store a checked section once routing stored its part (re-checked under the SLA
    lock: a concurrent SLA change in between makes it a 422 on ``sla.version``)."""
    try:
        version = await store.replace_document(state.pool, agent.id, section, routing,
                                               source="routing")
    except SlaPolicyError as exc:
        raise section_error(exc) from None
    assert version is not None  # only ``only_if_newer`` leaves a section alone
    return version


async def store_file_section(pool: asyncpg.Pool, text: str) -> int | None:
    """At router start (``OMNIHUB_ROUTING_CONFIG``): the file's ``sla:`` section, checked
    against the file's routing config and stored (``source = file``) when its version is
    newer than the stored policies'; an older or equal one is left alone (the stored
    policies are newer). A bad section raises ``SlaPolicyError`` naming ``sla.<path>``;
    a bad routing part raises routing's own error. Returns the version stored, or None."""
    data = parse_yaml(text)
    routing = load_config(data)
    section = data.get(SLA_SECTION) if isinstance(data, Mapping) else None
    if section is None:
        return None
    try:
        return await store.replace_document(pool, None, section, routing, source="file",
                                            only_if_newer=True)
    except SlaPolicyError as exc:
        raise section_error(exc) from None
