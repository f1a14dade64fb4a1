// @ts-check
// The composer's reply bar: which channel the reply goes out on, and whether free text is
// allowed there now (docs/channels.md "Reply channel" and "Messaging windows").
//
// Source of truth: GET /api/v1/conversations/{id}/reply-options[?via=]. In a joined
// conversation (a chat, then an SMS) the default is the channel the customer used last;
// the agent may pick another one they used here. The bar reloads when the customer
// writes again (their channel may change, a closed window reopens).

import { el } from "./lib/dom.js";

const REFRESH_MS = 30000; // "time left" countdown

/** @typedef {import("./lib/types.js").ReplyOptions} ReplyOptions */
/** @typedef {import("./lib/types.js").HubEvent} HubEvent */
/** @typedef {(opts: ReplyOptions, bar: ReplyBar) => Node | null} ReplyExtra a feature's part of the bar */

/**
 * "5 h 12 min" / "12 min" / "under a minute"
 * @param {number} ms
 */
export function timeLeft(ms) {
  if (ms <= 0) return "closed";
  const min = Math.floor(ms / 60000);
  if (min < 1) return "under a minute";
  const h = Math.floor(min / 60);
  const d = Math.floor(h / 24);
  if (d >= 1) return `${d} d ${h % 24} h`;
  return h ? `${h} h ${min % 60} min` : `${min} min`;
}

export class ReplyBar {
  /**
   * host: the element above the textarea; api(path) -> JSON; getCurrentId() -> id;
   * onChange(): the composer re-checks `blocked`; extras: feature renderers
   * (opts, bar) -> Node|null appended to the bar (the template picker).
   * @param {{host: HTMLElement, api: (path: string, opts?: {method?: string, body?: unknown}) => Promise<any>,
   *   getCurrentId: () => number | null,
   *   onChange?: () => void}} deps
   */
  constructor({ host, api, getCurrentId, onChange }) {
    this.host = host;
    this.api = api;
    this.getCurrentId = getCurrentId;
    this.onChange = onChange || (() => {});
    /** @type {ReplyExtra[]} */
    this.extras = [];
    /** @type {ReplyOptions | null} the last reply-options answer for the current conversation */
    this.opts = null;
    /** @type {string | null} the agent's pick (an inbox slug), null = the default */
    this.chosen = null;
    this.reloadTimer = 0;
    this.privateMode = false;
    this.error = "";
    this.seq = 0;
    this.clockOffset = 0; // server now - local now
    // Not while the agent is typing in the bar (a template parameter): it would lose focus.
    this.timer = setInterval(() => {
      if (this.opts && !this.host.contains(document.activeElement)) this.render();
    }, REFRESH_MS);
    window.addEventListener("omnihub:event", (e) => this.onEvent(/** @type {CustomEvent<HubEvent>} */ (e).detail));
  }

  /** The `via` to send with a reply (null: let the server take the default). */
  get via() {
    return this.chosen;
  }

  /** The channel the reply goes out on, as last loaded. */
  get channel() {
    return this.opts ? this.opts.channel : null;
  }

  /** Why free text cannot be sent now ("" when it can). */
  get blocked() {
    if (this.privateMode || !this.opts) return "";
    const o = this.opts;
    if (!o.window_open) {
      return o.window_reason || "The customer's messaging window is closed: send an approved template.";
    }
    return "";
  }

  windowMsLeft() {
    const o = this.opts;
    if (!o || !o.window_closes_at) return null;
    return Date.parse(o.window_closes_at) - (Date.now() + this.clockOffset);
  }

  /** @param {ReplyExtra} renderer */
  addExtra(renderer) {
    this.extras.push(renderer);
  }

  /** @param {boolean} on */
  setPrivate(on) {
    this.privateMode = on;
    this.render();
    this.onChange();
  }

  /**
   * @param {number | null} id the conversation
   * @param {{keepChoice?: boolean}} [opts]
   * @returns {Promise<void>}
   */
  async load(id, { keepChoice = false } = {}) {
    const seq = ++this.seq;
    if (!keepChoice) {
      // Another conversation: nothing of the previous one's channel or window applies.
      this.chosen = null;
      if (this.opts && this.opts.conversation_id !== id) {
        this.opts = null;
        this.render();
        this.onChange();
      }
    }
    if (!id) {
      this.opts = null;
      this.render();
      this.onChange();
      return;
    }
    const q = this.chosen ? `?via=${encodeURIComponent(this.chosen)}` : "";
    try {
      const opts = await this.api(`/api/v1/conversations/${id}/reply-options${q}`);
      if (seq !== this.seq || this.getCurrentId() !== id) return;
      this.opts = opts;
      this.error = "";
      if (opts.now) this.clockOffset = Date.parse(opts.now) - Date.now();
    } catch (caught) {
      const e = /** @type {import("./lib/http.js").HttpError} */ (caught);
      if (seq !== this.seq) return;
      if (this.chosen && e.status === 400) {
        this.chosen = null; // that channel is no longer offered: back to the default
        return this.load(id);
      }
      this.opts = null;
      this.error = `Could not load the reply channel: ${e.message}`;
    }
    this.render();
    this.onChange();
  }

  reload() {
    return this.load(this.getCurrentId(), { keepChoice: true });
  }

  /** @param {HubEvent | null | undefined} event */
  onEvent(event) {
    const id = this.getCurrentId();
    if (!id || !event || event.type !== "message.created") return;
    const m = event.message;
    if (m && m.conversation_id === id && m.direction === "in") {
      clearTimeout(this.reloadTimer);
      this.reloadTimer = setTimeout(() => this.reload(), 150);
    }
  }

  /** @param {string} via */
  pick(via) {
    this.chosen = via && this.opts && via !== this.opts.default_via ? via : null;
    this.load(this.getCurrentId(), { keepChoice: true });
  }

  render() {
    const host = this.host;
    if (!host) return;
    host.replaceChildren();
    host.hidden = this.privateMode || (!this.opts && !this.error);
    if (host.hidden) return;
    if (this.error) {
      host.append(el("span", { class: "reply-error", role: "alert", text: this.error }));
      return;
    }
    const o = /** @type {ReplyOptions} */ (this.opts); // hidden above when there are none
    if (!o.routes.length) {
      // Only phone calls here: no channel can deliver a written reply (never "via Phone").
      host.append(el("div", { class: "reply-via-line" },
        el("span", { class: "reply-via-text", "data-testid": "reply-via-none", text: o.window_reason || "No written channel to reply on." })));
      return;
    }
    const current = o.routes.find((r) => r.via === o.via) || { label: o.channel };
    const line = el("div", { class: "reply-via-line" },
      el("span", { class: "reply-via-text", "data-testid": "reply-via-label", text: `Replying via ${current.label}` }));
    if (o.routes.length > 1) {
      const select = el("select", {
        class: "reply-via-select", "data-testid": "reply-via-select", "aria-label": "Reply channel",
        onchange: (/** @type {Event} */ e) => this.pick(/** @type {HTMLSelectElement} */ (e.target).value),
      });
      for (const r of o.routes) {
        const opt = el("option", { value: r.via, text: `${r.label}${r.via === o.default_via ? " — last used" : ""}` });
        if (r.via === o.via) opt.selected = true;
        select.append(opt);
      }
      line.append(select);
    }
    host.append(line);
    for (const render of this.extras) {
      const node = render(o, this);
      if (node) host.append(node);
    }
  }
}
