// @ts-check
// A widget feature (see app.js): built from the widget context `w` it is given.
import { el } from "../../lib/dom.js";
import { uuid } from "../../lib/stream-id.js";

// ---------------------------------------------------------------- "Call me back"
// Self-contained: a form in the panel → POST /api/v1/callbacks (JSON as text/plain, so a
// shop on another origin needs no CORS preflight) → poll the status until it is final.
// The request id is the idempotency key and is kept in localStorage across reloads.
/**
 * @typedef {object} Callback
 * @property {HTMLButtonElement} toggle made by build(), like the elements below
 * @property {HTMLInputElement} phone
 * @property {HTMLInputElement} topic
 * @property {HTMLDivElement} error
 * @property {HTMLButtonElement} submit
 * @property {HTMLFormElement} form
 * @property {HTMLSpanElement} statusText
 * @property {HTMLButtonElement} again
 * @property {HTMLDivElement} statusBox
 * @property {() => void} build
 * @property {() => void} open
 */
/** @typedef {{id: string, phone?: string, final?: boolean, status?: string}} StoredCallback what localStorage keeps */

/**
 * @param {import("./app.js").WidgetContext} w
 * @returns {Callback}
 */
export function createCallback(w) {
  const { cfg, shadow, ui, openPanel } = w;
  const { HUB, VOICE_INBOX } = cfg;
  const KEY = `omnihub:callback:v1:${HUB}:${VOICE_INBOX}`;
  /** @type {Record<string, string>} */
  const LABELS = {
    received: "Request received. We will call you shortly.",
    requested: "You are in the queue. An agent will call you shortly.",
    offered: "An agent is about to call you.",
    dialing: "We are calling you now…",
    connected: "Connected with an agent.",
    completed: "Call completed. Thank you!",
    failed: "We could not reach you. You can ask for another call.",
    cancelled: "This callback was cancelled.",
  };
  const FINAL = new Set(["completed", "failed", "cancelled"]);
  let pollTimer = 0;
  const c = /** @type {Callback} */ ({}); // filled by build() and below

  /** @returns {StoredCallback | null} */
  function load() {
    try { return JSON.parse(localStorage.getItem(KEY) || "null"); } catch (_) { return null; }
  }
  /** @param {StoredCallback | null} v null forgets it */
  function save(v) {
    try { v ? localStorage.setItem(KEY, JSON.stringify(v)) : localStorage.removeItem(KEY); } catch (_) { /* private mode */ }
  }
  /** A request is stored and not final yet. */
  function pending() {
    const cur = load();
    return !!cur && !cur.final;
  }
  /** @param {"form" | "status" | "none"} mode */
  function show(mode) {
    c.form.hidden = mode !== "form";
    c.statusBox.hidden = mode !== "status";
    c.toggle.setAttribute("aria-expanded", String(mode === "form"));
  }
  /**
   * @param {string} status
   * @param {string} [reason]
   */
  function setStatus(status, reason) {
    c.statusText.textContent = LABELS[status] || status;
    c.statusBox.dataset.status = status;
    c.again.hidden = !FINAL.has(status);
    if (reason) c.statusText.textContent += ` ${reason}`;
  }
  async function poll() {
    const cur = load();
    if (!cur) return;
    try {
      const res = await fetch(`${HUB}/api/v1/callbacks/status/${encodeURIComponent(cur.id)}`, { cache: "no-store" });
      if (res.ok) {
        const s = await res.json();
        setStatus(s.status, s.reason || "");
        if (s.final) { save({ ...cur, final: true, status: s.status }); return; }
      }
    } catch (_) { /* offline: try again */ }
    pollTimer = setTimeout(poll, 2000);
  }
  /** @param {SubmitEvent} e */
  async function submit(e) {
    e.preventDefault();
    c.error.hidden = true;
    const id = uuid();
    c.submit.disabled = true;
    try {
      const res = await fetch(`${HUB}/api/v1/callbacks`, {
        method: "POST", headers: { "Content-Type": "text/plain" },
        body: JSON.stringify({ inbox: VOICE_INBOX, phone: c.phone.value, topic: c.topic.value, request_id: id,
          language: (navigator.language || "").slice(0, 10) }),
      });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(data.reason || `HTTP ${res.status}`);
      save({ id, phone: data.phone });
      show("status");
      setStatus("received");
      clearTimeout(pollTimer);
      pollTimer = setTimeout(poll, 1000);
    } catch (err) {
      c.error.textContent = /** @type {Error} */ (err).message;
      c.error.hidden = false;
    } finally {
      c.submit.disabled = false;
    }
  }
  c.build = () => {
    c.toggle = el("button", { type: "button", class: "cb-toggle", "data-testid": "callback-toggle", "aria-expanded": "false", text: "Call me back",
      onclick: () => show(c.form.hidden ? (pending() ? "status" : "form") : "none") });
    c.phone = el("input", { type: "tel", autocomplete: "tel", required: true, placeholder: "+49 30 1234567", "aria-label": "Your phone number", "data-testid": "callback-phone" });
    c.topic = el("input", { type: "text", maxlength: 200, placeholder: "What is it about? (optional)", "aria-label": "Topic", "data-testid": "callback-topic" });
    c.error = el("div", { class: "err", role: "alert", "data-testid": "callback-error", hidden: true });
    c.submit = el("button", { type: "submit", class: "cb-submit", text: "Call me", "data-testid": "callback-submit" });
    c.form = el("form", { class: "cb-form", "data-testid": "callback-form", hidden: true }, c.phone, c.topic, c.error, c.submit);
    c.form.addEventListener("submit", submit);
    c.statusText = el("span", { "data-testid": "callback-status", role: "status" });
    c.again = el("button", { type: "button", class: "cb-link", text: "Ask for another call", hidden: true, onclick: () => { save(null); show("form"); } });
    c.statusBox = el("div", { class: "cb-status", hidden: true }, c.statusText, c.again);
    shadow.append(el("style", { text: `
      .cb-bar { padding: 8px 14px; border-bottom: 1px solid #e5e7eb; background: #f8fafc; }
      .cb-toggle, .cb-submit { font: inherit; border: 1px solid var(--c); color: var(--c); background: #fff; border-radius: 8px; padding: 6px 10px; cursor: pointer; }
      .cb-submit { background: var(--c); color: #fff; }
      .cb-form { display: flex; flex-direction: column; gap: 6px; margin-top: 8px; }
      .cb-form input { font: inherit; padding: 7px 9px; border: 1px solid #d1d5db; border-radius: 8px; }
      .cb-status { margin-top: 8px; font-size: 14px; display: flex; flex-direction: column; gap: 4px; }
      .cb-link { font: inherit; border: 0; background: none; color: var(--c); text-decoration: underline; cursor: pointer; padding: 0; align-self: flex-start; }
    ` }));
    const bar = el("div", { class: "cb-bar" }, c.toggle, c.form, c.statusBox);
    ui.list.before(bar);
    const cur = load();
    if (cur && !cur.final) { show("status"); setStatus("received"); poll(); }
    else if (cur && cur.final) { show("status"); setStatus(cur.status || ""); }
  };
  c.open = () => { openPanel(); show(pending() ? "status" : "form"); c.phone.focus(); };
  return c;
}
