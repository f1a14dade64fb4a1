// @ts-check
// Settings: what is still missing for an agent or inbox to work (docs/admin.md "What is
// missing"), and the editors that fix it: an inbox's members and an agent's routing
// profile (queues, skills, languages, capacity; PUT /api/v1/routing/agents/{id}, the
// routing API's own validation, whose reason is shown inside the form).

import { api, field, form, h } from "./admin-kit.js";

/** @typedef {import("./lib/types.js").MissingItem} MissingItem */
/** @typedef {import("./lib/types.js").AdminAgent} AdminAgent */
/** @typedef {import("./lib/types.js").AdminInbox} AdminInbox */

/**
 * The checklist: each missing item with its consequence, or "ready".
 * @param {MissingItem[] | null | undefined} items
 * @param {string} testid
 */
export function missingList(items, testid) {
  if (!items || !items.length) {
    return h("p", { class: "setup-ok", "data-testid": testid, "data-complete": "true", text: "✓ Nothing missing." });
  }
  return h("ul", { class: "setup-missing", "data-testid": testid, "data-complete": "false" },
    ...items.map((m) => h("li", { "data-testid": "missing-item", "data-code": m.code, text: m.text })));
}

/**
 * A table cell: the count of missing items.
 * @param {MissingItem[] | null | undefined} items
 */
export function setupPill(items) {
  const n = (items || []).length;
  return h("span", { class: n ? "acct-pill warn" : "acct-pill ok", "data-testid": "setup-pill", text: n ? `${n} missing` : "ready" });
}

/**
 * Who works this inbox (replaces the set; the agents' own inbox lists follow).
 * @param {AdminInbox} inbox
 * @param {AdminAgent[]} agents
 * @param {(inbox: AdminInbox, message: string) => unknown} onSaved
 */
export function membersEditor(inbox, agents, onSaved) {
  const ids = new Set(inbox.members.map((m) => m.id));
  const boxes = agents.filter((a) => a.active).map((a) => h("label", {},
    h("input", { type: "checkbox", name: `agent:${a.id}`, checked: ids.has(a.id) }), ` ${a.name} (${a.role})`));
  return form("members-form", [h("fieldset", { class: "admin-inboxes" }, h("legend", { text: "Members" }), ...boxes)],
    "Save members", async (v) => {
      const picked = Object.keys(v).filter((k) => k.startsWith("agent:")).map((k) => parseInt(k.slice(6), 10));
      const r = await api(`/api/v1/admin/inboxes/${encodeURIComponent(inbox.slug)}/members`, { method: "PUT", body: { agents: picked } });
      await onSaved(r.inbox, `Members of ${inbox.slug} saved.`);
    });
}

/**
 * "billing=7, tv" → {billing: 7, tv: 5}
 * @param {string} text
 */
function parseSkills(text) {
  /** @type {Record<string, number>} */
  const out = {};
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [name, level] = part.split("=").map((s) => s.trim());
    out[name] = level === undefined || level === "" ? 5 : Number(level);
  }
  return out;
}

/**
 * The agent's routing profile: without queues they never get work.
 * @param {AdminAgent} agent
 * @param {string[]} queues
 * @param {(message: string) => unknown} onSaved
 */
export function routingEditor(agent, queues, onSaved) {
  const p = agent.routing || { queues: [], skills: {}, languages: [], capacity: null };
  const boxes = queues.map((q) => h("label", {},
    h("input", { type: "checkbox", name: `queue:${q}`, checked: p.queues.includes(q) }), ` ${q}`));
  return form("routing-form", [
    h("fieldset", { class: "admin-inboxes" }, h("legend", { text: "Queues (work is offered from these)" }), ...boxes),
    field("skills", "Skills (name=level 0–10, comma separated)", { value: Object.entries(p.skills).map(([k, v]) => `${k}=${v}`).join(", "), placeholder: "billing=7, tv=5" }),
    field("languages", "Languages (comma separated; empty = any)", { value: p.languages.join(", "), placeholder: "de, en" }),
    field("capacity", "Capacity in units (empty = the default: 1 call, 3 chats or 5 emails)", { type: "number", value: p.capacity === null || p.capacity === undefined ? "" : String(p.capacity) }),
  ], "Save routing profile", async (v) => {
    const body = {
      queues: Object.keys(v).filter((k) => k.startsWith("queue:")).map((k) => k.slice(6)),
      skills: parseSkills(v.skills || ""),
      languages: (v.languages || "").split(",").map((s) => s.trim()).filter(Boolean),
      capacity: v.capacity === "" ? null : Number(v.capacity),
    };
    await api(`/api/v1/routing/agents/${agent.id}`, { method: "PUT", body });
    await onSaved(`Routing profile of ${agent.email} saved.`);
  });
}
