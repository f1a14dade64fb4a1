// @ts-check
// Settings → SLA (admins; docs/sla.md "Policies (stored)"): the SLA policies in the
// order they are tried (the first whose condition holds wins; "Move up" changes it), a
// form to add or edit one, and delete. The server validates every change against the running routing
// config; a refusal names the field ("targets.resolution.seconds: must be >= 1") and is
// shown next to that field (a target's actions and auto-close included).

import { api, flash, h } from "./admin-kit.js";
import { fetchJson } from "./lib/http.js";

/** @typedef {import("./lib/http.js").HttpError} HttpError */
/** @typedef {{seconds: number, actions?: unknown[]}} TargetSpec */
/** @typedef {{after_days: number | string, message: string}} AutoClose */
/**
 * A policy as the REST API stores it (docs/sla.md "Policies").
 * @typedef {{id: string, name?: string, when?: string, calendar?: string | null,
 *   warning_percent?: number, targets: Record<string, TargetSpec>,
 *   auto_close?: AutoClose} & Record<string, unknown>} SlaPolicy
 */

const TARGETS = /** @type {const} */ (["first_response", "next_response", "resolution"]);
const LABELS = { first_response: "First response (s)", next_response: "Next response (s)", resolution: "Resolution (s)" };
const FIELDS = ["id", "name", "when", "calendar", "warning_percent", ...TARGETS, ...TARGETS.map((t) => `${t}_actions`), "auto_close"];

/**
 * @type {{policies: SlaPolicy[], version: number, queues: string[],
 *   problem: {reason: string} | null, editing: string | null}}
 */
const state = { policies: [], version: 0, queues: [], problem: null, editing: null };

/**
 * A change, sent with the version this page shows: another admin's change in between
 * is a 409 (reload), never silently overwritten.
 * @param {string} path
 * @param {string} method
 * @param {unknown} [body]
 */
function write(path, method, body) {
  return fetchJson(path, { method, body, headers: { "If-Match": String(state.version) }, loginOn401: true });
}

/**
 * A whole number as a number; anything else as typed (the server says what is wrong).
 * @param {string} v
 */
function num(v) {
  return /^\d+$/.test(v.trim()) ? Number(v.trim()) : v;
}

/** @param {SlaPolicy} p */
function targetsText(p) {
  return TARGETS.filter((t) => p.targets && p.targets[t]).map((t) => `${t.replace("_", " ")} ${p.targets[t].seconds} s`).join(", ");
}

/**
 * The form field a refusal's path is about ("" when none: shown under the form).
 * @param {string} path
 */
function fieldOf(path) {
  const m = /^(targets\.)?([a-z_]+)(\.actions)?/.exec(path || "");
  const name = m ? m[2] + (m[3] ? "_actions" : "") : "";
  return FIELDS.includes(name) ? name : "";
}

/**
 * A labelled input with its own error line (data-testid sla-error-<name>).
 * @param {string} name
 * @param {string} label
 * @param {Node} input
 */
function row(name, label, input) {
  return h("label", { "data-field": name }, label, input,
    h("span", { class: "error", role: "alert", "data-testid": `sla-error-${name}`, hidden: true }));
}

/** @param {SlaPolicy | null} editing the policy being edited; null: a new one */
function editor(editing) {
  const p = editing || { id: "", targets: {} };
  /** @param {string} name @param {unknown} value @param {string} [type] */
  const input = (name, value, type = "text") => h("input", { name, type, value: value === undefined || value === null ? "" : String(value), autocomplete: "off", "data-testid": `sla-field-${name}` });
  const calendar = h("select", { name: "calendar", "data-testid": "sla-field-calendar" },
    h("option", { value: "", text: "around the clock", selected: !p.calendar }),
    ...state.queues.map((q) => h("option", { value: q, text: `business hours of ${q}`, selected: p.calendar === q })));
  const general = h("div", { class: "error", role: "alert", "data-testid": "form-error", hidden: true });
  const submit = h("button", { type: "submit", class: "btn btn-primary", text: editing ? "Save policy" : "Add policy", "data-testid": "sla-save" });
  const el = h("form", { class: "admin-form", "data-testid": "sla-form", novalidate: true },
    row("id", "Id (a-z, 0-9, _ and -)", editing ? h("input", { name: "id", value: p.id, disabled: true, "data-testid": "sla-field-id" }) : input("id", "")),
    row("name", "Name", input("name", p.name)),
    row("when", "Applies when (routing filter, e.g. customer.tier == \"vip\")", input("when", p.when ?? "true")),
    row("calendar", "Counts", calendar),
    row("warning_percent", "Warn at (% of a target)", input("warning_percent", p.warning_percent ?? 80, "number")),
    ...TARGETS.map((t) => row(t, LABELS[t], input(t, p.targets && p.targets[t] ? p.targets[t].seconds : "", "number"))),
    ...TARGETS.map((t) => row(`${t}_actions`, `${LABELS[t].replace(" (s)", "")}: actions (JSON list)`,
      h("textarea", { name: `${t}_actions`, placeholder: '[{"type": "notify", "on": "warning"}]', "data-testid": `sla-field-${t}_actions` },
        p.targets && p.targets[t] && p.targets[t].actions && p.targets[t].actions.length ? JSON.stringify(p.targets[t].actions) : ""))),
    row("auto_close", "Auto-close pending after (working days; empty: never)", input("auto_close_days", p.auto_close ? p.auto_close.after_days : "", "number")),
    h("label", {}, "Closing message (optional)", input("auto_close_message", p.auto_close ? p.auto_close.message : "")),
    h("p", { class: "muted", style: "grid-column: 1 / -1", text: "Seconds of working time; leave a target empty to not set it. Actions: notify (to: supervisors, assignee), raise_priority (by), reroute (queue), reassign (agent), escalate (queue, reason), holding_message (text); on: warning or breach (docs/sla.md)." }),
    general,
    h("div", { class: "actions" }, submit,
      ...(editing ? [h("button", { type: "button", class: "btn btn-ghost", text: "Cancel", onclick: () => { state.editing = null; render(); } })] : [])));
  el.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    for (const e of el.querySelectorAll(".error")) /** @type {HTMLElement} */ (e).hidden = true;
    const v = /** @type {Record<string, string>} */ (Object.fromEntries(new FormData(el).entries()));
    /** @type {SlaPolicy} */
    const body = { ...p, id: editing ? p.id : v.id.trim(), name: v.name, when: v.when.trim() || "true",
      calendar: v.calendar || null, warning_percent: /** @type {number} */ (num(v.warning_percent)), targets: {} };
    /** @param {string} name @param {string} text */
    const refuse = (name, text) => {
      const line = /** @type {HTMLElement} */ (el.querySelector(`[data-testid=sla-error-${name}]`));
      line.textContent = text;
      line.hidden = false;
    };
    for (const t of TARGETS) {
      const actionsText = v[`${t}_actions`].trim();
      if (!v[t].trim()) {
        if (actionsText) return refuse(`${t}_actions`, "set the target's seconds first");
        continue;
      }
      let actions = [];
      try {
        actions = actionsText ? JSON.parse(actionsText) : [];
      } catch (_) {
        return refuse(`${t}_actions`, "not valid JSON: a list like [{\"type\": \"notify\"}]");
      }
      body.targets[t] = { seconds: /** @type {number} */ (num(v[t])), actions };
    }
    if (v.auto_close_days.trim()) body.auto_close = { after_days: num(v.auto_close_days), message: v.auto_close_message };
    else delete body.auto_close;
    submit.disabled = true;
    try {
      if (editing) await write(`/api/v1/sla/policies/${encodeURIComponent(p.id)}`, "PUT", body);
      else await write("/api/v1/sla/policies", "POST", body);
      flash(`SLA policy ${body.id} saved.`);
      state.editing = null;
      await refresh();
    } catch (caught) {
      const e = /** @type {HttpError} */ (caught);
      const name = fieldOf((e.data && e.data.path) || "");
      const line = /** @type {HTMLElement | null} */ (name ? el.querySelector(`[data-testid=sla-error-${name}]`) : null);
      const target = line || general;
      target.textContent = e.message;
      target.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  return el;
}

/** @param {SlaPolicy} p */
async function remove(p) {
  try {
    await write(`/api/v1/sla/policies/${encodeURIComponent(p.id)}`, "DELETE");
    flash(`SLA policy ${p.id} deleted.`);
    if (state.editing === p.id) state.editing = null;
    await refresh();
  } catch (e) { flash(/** @type {HttpError} */ (e).message); }
}

/** @param {number} i the policy to try one place earlier */
async function moveUp(i) {
  const ids = state.policies.map((p) => p.id);
  [ids[i - 1], ids[i]] = [ids[i], ids[i - 1]];
  try {
    await write("/api/v1/sla/policies/order", "PUT", { ids });
    flash(`${ids[i - 1]} is now tried before ${ids[i]}.`);
    await refresh();
  } catch (e) { flash(/** @type {HttpError} */ (e).message); }
}

function render() {
  const root = /** @type {HTMLElement} */ (document.getElementById("sla")); // admin.html
  const table = h("table", { class: "admin-table", "data-testid": "sla-table" },
    h("thead", {}, h("tr", {}, ...["#", "Policy", "Applies when", "Counts", "Targets", "Warns at", ""].map((t) => h("th", { text: t })))),
    h("tbody", {}, ...state.policies.map((p, i) => h("tr", { "data-policy": p.id, "aria-selected": String(state.editing === p.id) },
      h("td", { text: String(i + 1) }), h("td", { text: p.name ? `${p.name} (${p.id})` : p.id }),
      h("td", {}, h("code", { text: p.when ?? "true" })), h("td", { text: p.calendar ? `hours of ${p.calendar}` : "around the clock" }),
      h("td", { text: targetsText(p) }), h("td", { text: `${p.warning_percent ?? 80} %` }),
      h("td", {},
        ...(i > 0 ? [h("button", { type: "button", class: "btn btn-ghost", text: "Move up", "data-testid": "sla-move-up", onclick: () => moveUp(i) })] : []),
        h("button", { type: "button", class: "btn btn-ghost", text: "Edit", "data-testid": "sla-edit", onclick: () => { state.editing = p.id; render(); } }),
        h("button", { type: "button", class: "btn btn-ghost", text: "Delete", "data-testid": "sla-delete", onclick: () => remove(p) }))))));
  const editing = state.policies.find((p) => p.id === state.editing) || null;
  root.replaceChildren(
    h("h2", { text: "SLA policies" }),
    h("p", { class: "muted", text: `Version ${state.version}. Tried in this order: the first whose condition holds sets a conversation's targets. A change applies to clocks started afterwards; running clocks keep their terms.` }),
    ...(state.problem ? [h("p", { class: "error", "data-testid": "sla-problem", text: `These policies no longer fit the routing config: ${state.problem.reason}` })] : []),
    state.policies.length ? table : h("p", { class: "muted", "data-testid": "sla-empty", text: "No SLA policy yet." }),
    h("h2", { text: editing ? `Edit ${editing.id}` : "New policy" }), editor(editing));
  root.dataset.ready = "true";
}

async function refresh() {
  try {
    const [doc, inboxes] = await Promise.all([api("/api/v1/sla/policies"), api("/api/v1/admin/inboxes")]);
    state.policies = doc.policies;
    state.version = doc.version;
    state.problem = doc.problem;
    state.queues = inboxes.queues;
  } catch (e) {
    flash(`Could not load the SLA policies: ${/** @type {HttpError} */ (e).message}`);
    return;
  }
  render();
}

// The SLA tab: shown by admin.js's tab switch; loaded when first opened.
for (const b of document.querySelectorAll(".admin-tabs [data-tab='sla']")) {
  b.addEventListener("click", () => refresh());
}
