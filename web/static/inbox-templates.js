// @ts-check
// Messaging-window state and the WhatsApp template picker, plugged into the composer's
// reply bar (inbox-reply.js). docs/channels.md "Template picker".
//
// WhatsApp: free text only within 24 h of the customer's last message; after that only an
// approved template. The bar shows the window (open + time left / closed); when closed,
// inbox.js disables free text with the reason, and "Send template" opens the picker:
// the inbox's approved templates (name, language, body preview), one input per {{n}},
// a live preview, client-side checks mirroring hub/reply_policy.py:render_template, and
// POST /api/v1/conversations/{id}/template. Server errors are shown in the picker.
// Messenger / Instagram: the bar shows the Meta window (standard / HUMAN_AGENT / closed).

import { el } from "./lib/dom.js";
import { uuid } from "./lib/stream-id.js";
import { timeLeft } from "./inbox-reply.js";

const PLACEHOLDER = /\{\{(\d{1,2})\}\}/g;
const MAX_PARAM = 1000;

/** @typedef {import("./lib/types.js").ReplyOptions} ReplyOptions */
/** @typedef {import("./lib/types.js").WhatsAppTemplate} WhatsAppTemplate */
/** @typedef {import("./lib/types.js").Message} Message */
/** @typedef {import("./inbox-reply.js").ReplyBar} ReplyBar */

/**
 * The {{n}} numbers of a template body, as the server counts them (distinct).
 * @param {string} body
 * @returns {number[]}
 */
export function placeholders(body) {
  return [...new Set(Array.from(body.matchAll(PLACEHOLDER), (m) => Number(m[1])))].sort((a, b) => a - b);
}

/**
 * Mirrors the server: exactly {{1}}..{{n}}, n params, each 1-1000 chars, one line, not blank.
 * @param {string} body
 * @param {string[]} params
 * @returns {string[]} the problems
 */
export function validateParams(body, params) {
  const needed = placeholders(body);
  if (needed.some((n, i) => n !== i + 1)) return ["This template's placeholders are not numbered 1..n; it cannot be sent."];
  if (params.length !== needed.length) return [`This template needs exactly ${needed.length} parameters.`];
  /** @type {string[]} */
  const errors = [];
  params.forEach((p, i) => {
    if (!p.trim()) errors.push(`{{${i + 1}}}: required.`);
    else if (p.length > MAX_PARAM) errors.push(`{{${i + 1}}}: at most ${MAX_PARAM} characters.`);
    else if (/[\n\r]/.test(p)) errors.push(`{{${i + 1}}}: one line only.`);
  });
  return errors;
}

/**
 * The body as the customer will see it; empty params stay visible as {{n}}.
 * @param {string} body
 * @param {string[]} params
 * @returns {Node[]}
 */
export function renderPreview(body, params) {
  /** @type {Node[]} */
  const parts = [];
  let last = 0;
  for (const m of body.matchAll(PLACEHOLDER)) {
    parts.push(document.createTextNode(body.slice(last, m.index)));
    const v = params[Number(m[1]) - 1];
    parts.push(v && v.trim()
      ? el("mark", { class: "tpl-filled", text: v })
      : el("mark", { class: "tpl-missing", text: m[0] }));
    last = /** @type {number} */ (m.index) + m[0].length; // matchAll: always set
  }
  parts.push(document.createTextNode(body.slice(last)));
  return parts;
}


class TemplatePicker {
  /**
   * @param {ReplyBar} bar
   * @param {{onMessage: (message: Message) => void}} deps
   */
  constructor(bar, { onMessage }) {
    this.bar = bar;
    this.onMessage = onMessage;
    /** @type {number | null} conversation id while the picker is open */
    this.openFor = null;
    /** @type {WhatsAppTemplate | null} */
    this.selected = null;
    /** @type {string[]} */
    this.params = [];
    this.error = "";
    this.sending = false;
    /** @type {string | null} */
    this.clientId = null;
    this.node = null;
  }

  /** @param {ReplyOptions} o */
  windowState(o) {
    if (o.window_kind === "whatsapp") {
      const left = this.bar.windowMsLeft();
      const open = o.window_open && left !== null && left > 0;
      return el("span", {
        class: `win-state ${open ? "win-open" : "win-closed"}`, "data-testid": "window-state",
        "data-state": open ? "open" : "closed",
        text: open ? `24 h window open · ${timeLeft(left)} left` : "24 h window closed — free text is disabled; send an approved template",
      });
    }
    if (o.window_kind === "meta") {
      if (!o.window_open) {
        return el("span", { class: "win-state win-closed", "data-testid": "window-state", "data-state": "closed", text: o.window_reason });
      }
      const left = this.bar.windowMsLeft();
      const tagged = o.meta_messaging_type === "HUMAN_AGENT";
      return el("span", {
        class: `win-state ${tagged ? "win-tagged" : "win-open"}`, "data-testid": "window-state",
        "data-state": tagged ? "human_agent" : "open", title: o.window_reason || "",
        // No closing time known: timeLeft says "closed", as it did for null.
        text: tagged ? `Human-agent reply (HUMAN_AGENT tag) · ${timeLeft(left ?? 0)} left` : `Messaging window open · ${timeLeft(left ?? 0)} left`,
      });
    }
    return null;
  }

  /**
   * Renderer for the reply bar.
   * @param {ReplyOptions} o
   */
  render(o) {
    const wrap = el("div", { class: "reply-extras" });
    const state = this.windowState(o);
    if (state) wrap.append(state);
    if (o.channel === "whatsapp") {
      if (o.templates.length) {
        wrap.append(el("button", {
          type: "button", class: "btn btn-small", "data-testid": "template-open",
          "aria-expanded": String(this.openFor === o.conversation_id),
          onclick: () => this.toggle(o),
        }, "Send template"));
      } else if (!o.window_open) {
        wrap.append(el("span", { class: "win-closed", text: "This inbox has no approved templates (WhatsApp Cloud API inboxes only)." }));
      }
    }
    if (this.openFor !== o.conversation_id || o.channel !== "whatsapp") this.openFor = null;
    if (this.openFor) wrap.append(this.panel(o));
    return wrap.childNodes.length ? wrap : null;
  }

  /** @param {ReplyOptions} o */
  toggle(o) {
    if (this.openFor === o.conversation_id) {
      this.openFor = null;
    } else {
      this.openFor = o.conversation_id;
      this.selected = null;
      this.params = [];
      this.error = "";
    }
    this.bar.render();
  }

  /** @param {WhatsAppTemplate} t */
  choose(t) {
    this.selected = t;
    this.params = Array(placeholders(t.body).length).fill("");
    this.error = "";
    this.clientId = uuid();
    this.bar.render();
    const first = /** @type {HTMLInputElement | null} */ (this.bar.host.querySelector("[data-testid=template-param]"));
    if (first) first.focus();
  }

  /** @param {ReplyOptions} o */
  panel(o) {
    const list = el("ul", { class: "tpl-list", role: "listbox", "aria-label": "Approved templates" });
    for (const t of o.templates) {
      const on = this.selected && this.selected.name === t.name && this.selected.language === t.language;
      list.append(el("li", {},
        el("button", {
          type: "button", class: `tpl-item${on ? " on" : ""}`, role: "option", "aria-selected": String(!!on),
          "data-testid": "template-item", "data-name": t.name, onclick: () => this.choose(t),
        },
        el("span", { class: "tpl-name", text: t.name }),
        el("span", { class: "tpl-lang", text: t.language }),
        el("span", { class: "tpl-body", text: t.body }))));
    }
    const box = el("div", { class: "tpl-panel", "data-testid": "template-picker" },
      el("div", { class: "tpl-head" }, el("strong", { text: "Approved WhatsApp templates" }),
        el("button", { type: "button", class: "btn btn-small", onclick: () => this.toggle(o) }, "Close")),
      list);
    if (this.selected) box.append(this.form(o));
    return box;
  }

  /** @param {ReplyOptions} o */
  form(o) {
    const t = /** @type {WhatsAppTemplate} */ (this.selected); // panel() shows the form only then
    const preview = el("div", { class: "tpl-preview", "data-testid": "template-preview" });
    const errs = el("ul", { class: "tpl-errors", "data-testid": "template-errors", role: "alert" });
    const send = el("button", { type: "button", class: "btn btn-primary btn-small", "data-testid": "template-send" }, "Send template");
    const refresh = () => {
      preview.replaceChildren(...renderPreview(t.body, this.params));
      const problems = validateParams(t.body, this.params);
      send.disabled = this.sending || problems.length > 0;
      errs.replaceChildren(...[...(this.error ? [this.error] : []), ...problems.filter((p) => !p.endsWith("required."))]
        .map((p) => el("li", { text: p })));
    };
    const inputs = this.params.map((v, i) => el("label", { class: "tpl-param" },
      el("span", { text: `{{${i + 1}}}` }),
      el("input", {
        type: "text", value: v, maxlength: String(MAX_PARAM + 1), "data-testid": "template-param",
        "aria-label": `Parameter ${i + 1}`,
        oninput: (/** @type {Event} */ e) => {
          this.params[i] = /** @type {HTMLInputElement} */ (e.target).value;
          this.error = "";
          refresh();
        },
      })));
    send.addEventListener("click", () => this.send(o));
    refresh();
    return el("div", { class: "tpl-form" },
      el("div", { class: "tpl-params" }, ...inputs),
      el("div", { class: "tpl-preview-label", text: "Preview" }), preview, errs,
      el("div", { class: "tpl-actions" }, send));
  }

  /** @param {ReplyOptions} o */
  async send(o) {
    const t = this.selected;
    if (!t || this.sending || validateParams(t.body, this.params).length) return;
    this.sending = true;
    this.bar.render();
    try {
      const res = await this.bar.api(`/api/v1/conversations/${o.conversation_id}/template`, {
        method: "POST",
        body: { name: t.name, language: t.language, params: this.params, client_id: this.clientId, via: o.via },
      });
      if (res && res.message) this.onMessage(res.message);
      this.openFor = null;
      this.selected = null;
    } catch (caught) {
      const e = /** @type {import("./lib/http.js").HttpError} */ (caught);
      // 4xx: fix and resend (a new attempt); 5xx / network: same client_id, so no duplicate.
      this.error = e.message || "Sending failed";
      if (e.status && e.status < 500) this.clientId = uuid();
    } finally {
      this.sending = false;
      this.bar.render();
    }
  }
}

/**
 * @param {ReplyBar} bar
 * @param {{onMessage: (message: Message) => void}} deps
 */
export function installTemplatePicker(bar, { onMessage }) {
  const picker = new TemplatePicker(bar, { onMessage });
  bar.addExtra((o) => picker.render(o));
  return picker;
}
