// @ts-check
// omnihub inbox: the call panel (docs/voice.md).
//
// Opens on `call.ringing` / `call.answered` (frames the hub sends only to this agent and
// supervisors) with the caller's context, the IVR data and the call script; after the
// hangup it asks for the wrap-up (disposition + notes). Callback items assigned to the
// agent get a "Call now" button. inbox.js re-dispatches every event as `omnihub:event`.
// All text goes through textContent: nothing from a caller is parsed as HTML.

import { el } from "./lib/dom.js";
import { fetchJson } from "./lib/http.js";

/** @typedef {import("./lib/types.js").HubEvent} HubEvent */
/** @typedef {import("./lib/types.js").Me} Me */
/** @typedef {import("./lib/types.js").VoiceCall} VoiceCall */
/** @typedef {import("./lib/types.js").ScriptView} ScriptView */
/** @typedef {import("./lib/types.js").CallbackRequest} CallbackRequest */
/** @typedef {import("./lib/dom.js").Child} Child */
/**
 * The call the panel shows.
 * @typedef {{call: VoiceCall, context: Record<string, any> | null, known?: boolean,
 *   script: {id: number, name: string} | null, view?: ScriptView | null, error: string,
 *   wrapped?: boolean}} CurrentCall
 */

const panel = el("aside", { class: "voice-panel", id: "voice-panel", "data-testid": "call-panel",
  "aria-label": "Call", hidden: true });
(document.getElementById("dock") || document.body).append(panel); // inbox.html's dock

/** @type {Me | null} */
let me = null;
/** @type {CurrentCall | null} */
let current = null;
/** @type {{code: string, label: string}[] | null} loaded once */
let dispositions = null;

const api = fetchJson;

/** @type {Record<string, string>} */
const STATE_LABEL = {
  ringing: "Ringing", answered: "On call", completed: "Call ended", missed: "Missed call",
  forwarded: "Forwarded", not_answered: "Not answered", blocked: "Blocked",
};

/**
 * A field for display: missing values (null, undefined, "") are "—", never "null".
 * @param {unknown} v
 */
function shown(v) {
  return v === null || v === undefined || v === "" ? "—" : String(v);
}

/** @param {number | null | undefined} s */
function fmtDuration(s) {
  if (s === null || s === undefined) return "";
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * @param {string} title
 * @param {...(Child | Child[])} children
 */
function section(title, ...children) {
  return el("section", { class: "vp-section" }, el("h3", { text: title }), ...children);
}

/** @param {Record<string, any>} ctx the caller's context (call.ringing) */
function renderContext(ctx) {
  /** @type {HTMLElement[]} */
  const out = [];
  const c = ctx.contact || {};
  out.push(el("div", { class: "vp-caller" },
    el("strong", { class: "vp-name", "data-testid": "call-caller", text: c.name || c.phone || "Unknown caller" }),
    el("span", { class: "vp-sub", text: [c.phone, c.email, c.tier && c.tier !== "standard" ? c.tier.toUpperCase() : ""].filter(Boolean).join(" · ") })));
  const ivr = Object.entries(ctx.ivr || {});
  if (ivr.length) {
    out.push(section("IVR", el("div", { class: "vp-chips", "data-testid": "call-ivr" },
      ivr.map(([k, v]) => el("span", { class: "vp-chip", text: `${k}: ${v}` })))));
  }
  if (ctx.new_case) {
    out.push(newCaseForm(ctx.new_case));
  }
  if ((ctx.accounts || []).length) {
    out.push(section("Accounts", el("ul", { class: "vp-list" }, ctx.accounts.map((/** @type {Record<string, any>} */ a) =>
      el("li", { text: `${a.account_no} · ${a.service} · ${a.plan}${a.status !== "active" ? ` (${a.status})` : ""}` })))));
  }
  if ((ctx.orders || []).length) {
    out.push(section("Recent orders", el("ul", { class: "vp-list" }, ctx.orders.map((/** @type {Record<string, any>} */ o) =>
      el("li", { text: `${o.order_no} · ${o.status} · ${Number(o.total).toFixed(2)}` })))));
  }
  if ((ctx.open_invoices || []).length) {
    out.push(section("Open invoices", el("ul", { class: "vp-list" }, ctx.open_invoices.map((/** @type {Record<string, any>} */ i) =>
      el("li", { class: i.status === "overdue" ? "vp-warn" : "", text: `${i.invoice_no} · ${Number(i.amount).toFixed(2)} · due ${i.due_date} (${i.status})` })))));
  }
  if ((ctx.open_conversations || []).length) {
    out.push(section("Open conversations", el("ul", { class: "vp-list" }, ctx.open_conversations.map((/** @type {Record<string, any>} */ cv) =>
      el("li", {}, el("a", { href: `#/conversations/${cv.id}`, text: `#${cv.id} · ${cv.channel} · ${cv.subject || cv.status}` }))))));
  }
  return out;
}

/** @param {{subject?: string, name?: string, phone?: string}} pre the form pre-filled */
function newCaseForm(pre) {
  const subject = el("input", { name: "subject", value: pre.subject, "aria-label": "Subject" });
  const name = el("input", { name: "name", value: pre.name, placeholder: "Caller's name", "aria-label": "Name" });
  const form = el("form", { class: "vp-form", "data-testid": "call-new-case" },
    el("p", { class: "vp-sub", text: `Unknown caller ${pre.phone || ""}: open a new case.` }),
    name, subject,
    el("button", { type: "submit", class: "btn btn-primary", text: "Open case" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const conv = current && current.call.conversation_id;
    if (!conv) return;
    const note = `New case: ${subject.value}${name.value ? ` — caller: ${name.value}` : ""}`;
    try {
      await api(`/api/v1/conversations/${conv}/messages`, { method: "POST", body: { text: note, private: true } });
      location.hash = `#/conversations/${conv}`;
    } catch (err) { showError(err); }
  });
  return form;
}

function renderScript() {
  if (!current || !current.script) return null;
  const v = current.view;
  if (!v) return section(`Script: ${current.script.name}`, el("p", { class: "vp-sub", text: "Loading…" }));
  /** @type {HTMLElement[]} */
  const body = [el("p", { class: "vp-prompt", "data-testid": "script-prompt", text: v.prompt })];
  const options = v.options;
  if (!v.done && options) {
    body.push(el("div", { class: "vp-options" }, options.map((o) =>
      el("button", { type: "button", class: "btn", "data-value": o.value, text: o.label, onclick: () => answer(v.step, o.value) }))));
  } else if (!v.done && v.input) {
    const input = el("input", { type: v.input === "number" ? "number" : "text", "aria-label": "Answer", required: true });
    const form = el("form", { class: "vp-form" }, input, el("button", { type: "submit", class: "btn", text: "Next" }));
    form.addEventListener("submit", (e) => { e.preventDefault(); answer(v.step, input.value); });
    body.push(form);
  } else if (v.done) {
    body.push(el("p", { class: "vp-sub", text: "End of script." }));
  }
  if (v.path && v.path.length) {
    body.push(el("button", { type: "button", class: "btn btn-link", text: "Back", onclick: () => answer(v.step, null) }));
  }
  return section(`Script: ${current.script.name}`, ...body);
}

async function loadScript() {
  const conv = current && current.call.conversation_id;
  if (!conv) return;
  try {
    const res = await api(`/api/v1/conversations/${conv}/script`);
    if (!current || current.call.conversation_id !== conv) return;
    current.script = res.script;
    current.view = res.view || null;
    render();
  } catch (err) { showError(err); }
}

/**
 * @param {string} step
 * @param {string | null} value null: back one step
 */
async function answer(step, value) {
  // Its buttons are in the panel only while a call with a script is shown.
  const cur = /** @type {CurrentCall & {script: {id: number}}} */ (current);
  const conv = cur.call.conversation_id;
  try {
    const res = await api(`/api/v1/conversations/${conv}/script`, { method: "POST", body: { script_id: cur.script.id, step, value } });
    cur.view = res.view;
    render();
  } catch (err) { showError(err); }
}

async function wrapupForm() {
  if (!dispositions) {
    try { dispositions = (await api("/api/v1/voice/dispositions")).dispositions; } catch (_) { dispositions = []; }
  }
  const select = el("select", { name: "disposition", "aria-label": "Disposition", required: true, "data-testid": "wrapup-disposition" },
    el("option", { value: "", text: "Choose a disposition…" }),
    (dispositions || []).map((d) => el("option", { value: d.code, text: d.label })));
  const notes = el("textarea", { name: "notes", rows: 3, maxlength: 5000, placeholder: "Notes", "aria-label": "Notes" });
  const form = el("form", { class: "vp-form", "data-testid": "wrapup-form" }, select, notes,
    el("button", { type: "submit", class: "btn btn-primary", text: "Finish wrap-up" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const cur = /** @type {CurrentCall} */ (current); // the form is shown for the current call only
    try {
      const res = await api(`/api/v1/calls/${cur.call.id}/wrapup`, { method: "POST", body: { disposition: select.value, notes: notes.value } });
      cur.call = res.call;
      cur.wrapped = true;
      render();
      setTimeout(() => { if (current && current.wrapped) close(); }, 1500);
    } catch (err) { showError(err); }
  });
  return section("Wrap-up", form);
}

/** @param {unknown} err */
function showError(err) {
  if (current) current.error = /** @type {Error} */ (err).message;
  render();
}

function close() {
  current = null;
  panel.hidden = true;
  panel.replaceChildren();
  renderCallbacks();
}

async function render() {
  if (!current) return close();
  const call = current.call;
  const head = el("header", { class: "vp-head" },
    el("span", { class: `vp-state vp-${call.state}`, "data-testid": "call-state", text: STATE_LABEL[call.state] || call.state }),
    el("span", { class: "vp-sub", text: `${call.direction === "in" ? "from" : "to"} ${shown(call.direction === "in" ? call.from_number : call.to_number)}` }),
    call.duration_s !== null && call.duration_s !== undefined ? el("span", { class: "vp-sub", text: fmtDuration(call.duration_s) }) : null,
    el("button", { type: "button", class: "vp-close", "aria-label": "Close call panel", text: "×", onclick: close }));
  const parts = [head];
  if (current.error) parts.push(el("p", { class: "vp-error", role: "alert", text: current.error }));
  if (call.conversation_id) {
    parts.push(el("a", { class: "vp-open", href: `#/conversations/${call.conversation_id}`, text: "Open conversation" }));
  }
  parts.push(...renderContext(current.context || {}));
  const script = renderScript();
  if (script) parts.push(script);
  const mine = me && (call.agent_id === me.id || me.role !== "agent");
  if (call.state === "completed" && mine && !call.disposition) parts.push(await wrapupForm());
  if (call.disposition) parts.push(el("p", { class: "vp-sub", "data-testid": "wrapup-done", text: `Wrap-up saved: ${call.disposition}` }));
  panel.replaceChildren(...parts);
  panel.hidden = false;
}

// ---------------------------------------------------------------- callbacks ("Call now")
// Opening a conversation that has a waiting callback shows it with a "Call now" button;
// `callback.updated` events keep its status live.

/** @type {Record<string, string>} */
const CB_LABEL = {
  requested: "Waiting for a call back", offered: "Offered", dialing: "Dialing — your phone rings first",
  connected: "Connected", completed: "Completed", failed: "Failed", cancelled: "Cancelled",
};
/** @type {{conversation: number, callbacks: CallbackRequest[], error: string} | null} */
let cbView = null;

function renderCallbacks() {
  if (current) return; // a live call owns the panel
  if (!cbView || !cbView.callbacks.length) { panel.hidden = true; panel.replaceChildren(); return; }
  const view = cbView;
  const items = view.callbacks.map((cb) => {
    const waiting = cb.status === "requested" || cb.status === "offered";
    // The server sends a short message (`reason`) with a stable code; a waiting
    // callback with a reason is a failed attempt: the agent keeps it and may retry.
    const failedTry = waiting && cb.reason;
    return el("li", { class: "vp-cb", "data-testid": "callback-item" },
      el("strong", { text: shown(cb.phone) }),
      el("span", { class: "vp-sub", text: ` · ${cb.source === "missed_call" ? "missed call" : cb.topic || "no topic"}` }),
      el("div", { class: "vp-sub", "data-testid": "callback-item-status", text: failedTry ? "Call failed — try again" : (CB_LABEL[cb.status] || shown(cb.status)) }),
      cb.reason ? el("p", { class: "vp-error", role: "alert", "data-testid": "callback-item-reason", "data-code": cb.reason_code || "", text: cb.reason }) : null,
      waiting ? el("button", { type: "button", class: "btn btn-primary vp-callnow", "data-testid": "call-now", text: "Call now", onclick: () => callNow(cb) }) : null);
  });
  // replaceChildren (unlike el) would print a null child as the text "null".
  panel.replaceChildren(
    el("header", { class: "vp-head" }, el("span", { class: "vp-state", text: "Callback" }),
      el("button", { type: "button", class: "vp-close", "aria-label": "Close", text: "×", onclick: () => { cbView = null; renderCallbacks(); } })),
    ...(view.error ? [el("p", { class: "vp-error", role: "alert", text: view.error })] : []),
    el("ul", { class: "vp-list" }, items));
  panel.hidden = false;
}

/** @param {CallbackRequest} cb */
async function callNow(cb) {
  const view = /** @type {NonNullable<typeof cbView>} */ (cbView); // its button is in the view
  try {
    await api(`/api/v1/callbacks/${cb.id}/call`, { method: "POST" });
    cb.status = "dialing";
    cb.reason = "";
    view.error = "";
  } catch (err) { view.error = /** @type {Error} */ (err).message; }
  renderCallbacks();
}

let cbSeq = 0;

async function loadCallbacks() {
  const seq = ++cbSeq;
  const m = /^#\/conversations\/(\d+)$/.exec(location.hash);
  if (!m) { cbView = null; renderCallbacks(); return; }
  const conv = Number(m[1]);
  try {
    const res = await api(`/api/v1/conversations/${conv}/callbacks`);
    if (seq !== cbSeq) return; // the agent moved on meanwhile
    cbView = { conversation: conv, callbacks: res.callbacks.filter((/** @type {CallbackRequest} */ c) => c.status !== "cancelled"), error: "" };
  } catch (_) { if (seq === cbSeq) cbView = null; }
  renderCallbacks();
}

/** @param {HubEvent} ev */
function onEvent(ev) {
  if (ev.type === "callback.updated" && cbView && cbView.conversation === ev.conversation_id) {
    const cb = cbView.callbacks.find((c) => c.id === ev.callback_id);
    if (cb) { cb.status = ev.status; cb.reason = ev.reason || ""; cb.reason_code = ev.reason_code || ""; } else loadCallbacks();
    renderCallbacks();
    return;
  }
  if (ev.type === "call.ringing" || ev.type === "call.answered") {
    const same = current && current.call.id === ev.call.id;
    /** @type {CurrentCall} */
    const next = { ...(same ? current : {}), call: ev.call, context: ev.context, known: ev.known_caller, script: ev.script || null, error: "" };
    current = next;
    if (!same || !next.view) { next.view = null; loadScript(); }
    render();
  } else if (ev.type === "call.updated" && current && current.call.id === ev.call.id) {
    current.call = ev.call;
    render();
  }
}

window.addEventListener("omnihub:event", (e) => onEvent(/** @type {CustomEvent<HubEvent>} */ (e).detail));
// The inbox selects conversations with history.replaceState, which fires no
// `hashchange`: it announces its own navigation with `omnihub:navigate` (inbox.js).
window.addEventListener("hashchange", loadCallbacks);
window.addEventListener("omnihub:navigate", loadCallbacks);
loadCallbacks();
api("/api/v1/me").then((r) => { me = r.agent || r; }).catch(() => {});
/** @type {any} */ (window).omnihubVoice = { get current() { return current; } }; // debugging / tests
