// @ts-check
// omnihub inbox: the contact's cross-channel timeline, identities, claims and merge
// suggestions, appended to the 360° panel. REST only (docs/identity.md); refreshed when
// a message event arrives for one of the contact's conversations.

import { channelIcon } from "./inbox-view.js";
import { CHANNEL_LABEL } from "./lib/channels.js";
import { el } from "./lib/dom.js";
import { clock, dayLabel } from "./lib/format.js";
import { fetchJson } from "./lib/http.js";

/** @typedef {import("./lib/types.js").HubEvent} HubEvent */
/** @typedef {import("./lib/types.js").CustomerContext} CustomerContext */
/** @typedef {import("./lib/types.js").TimelineItem} TimelineItem */
/** @typedef {import("./lib/types.js").ContactIdentities} ContactIdentities */
/** @typedef {import("./lib/types.js").Me} Me */
/** @typedef {import("./lib/http.js").HttpError} HttpError */

export class ContactPanel {
  /**
   * @param {{onOpenConversation?: (id: number) => void, onChange?: () => void, onContactChanged?: () => void,
   *   getMe?: () => Me | null, toast?: (text: string, kind?: string) => void}} [deps]
   */
  constructor({ onOpenConversation, onChange, onContactChanged, getMe, toast } = {}) {
    /** @type {number | null} */
    this.contactId = null;
    /** @type {TimelineItem[]} oldest first */
    this.timeline = [];
    /** @type {string | null} the cursor of the next older page */
    this.nextBefore = null;
    /** @type {ContactIdentities | null} */
    this.ids = null;
    this.error = "";
    this.loading = false;
    this.onOpenConversation = onOpenConversation || (() => {});
    this.onChange = onChange || (() => {});
    this.onContactChanged = onContactChanged || (() => {});
    this.getMe = getMe || (() => null);
    /** @type {Set<string>} identity keys ("kind:value") picked for a split */
    this.selected = new Set();
    /** @type {{audit_id: number, contact_id: number, merged_id: number} | null} for the undo button */
    this.lastMerge = null;
    this.busy = false;
    this.toast = toast || ((/** @type {string} */ t) => console.warn(t));
    /** @type {Set<number>} */
    this.convIds = new Set();
    this.refreshTimer = 0;
  }

  /**
   * Called on every inbox render with the current 360° context (or null).
   * @param {HTMLElement} root
   * @param {CustomerContext | null} ctx
   */
  render(root, ctx) {
    const id = ctx && ctx.contact ? ctx.contact.id : null;
    if (id !== this.contactId) this.load(id);
    if (!id || !ctx) return;
    for (const c of ctx.conversations || []) this.convIds.add(c.id);
    root.append(this.identitySection(), ...this.prechatSection(), this.timelineSection());
  }

  /**
   * Called for every event the inbox receives.
   * @param {HubEvent | null | undefined} event
   */
  onEvent(event) {
    if (!this.contactId || !event) return;
    if (event.type === "contact.merged" || event.type === "contact.split") {
      const touched = [event.survivor_id, event.merged_id, event.contact_id, event.new_contact_id];
      if (touched.includes(this.contactId)) {
        this.load(this.contactId, { quiet: true });
        this.onContactChanged();
      }
      return;
    }
    if (event.type === "verification.updated") {
      if (event.contact_id === this.contactId || this.convIds.has(event.conversation_id)) this.onVerification(event);
      return;
    }
    if (event.type !== "message.created") return;
    if (!this.convIds.has(event.message.conversation_id)) return;
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.load(this.contactId, { quiet: true }), 300);
  }

  /**
   * @param {number | null} id the contact (null: none)
   * @param {{quiet?: boolean}} [opts] quiet: a refresh of the same contact, its state kept meanwhile
   */
  async load(id, { quiet = false } = {}) {
    if (!quiet) {
      this.contactId = id;
      this.timeline = [];
      this.nextBefore = null;
      this.ids = null;
      this.convIds = new Set();
      this.selected = new Set();
      this.error = "";
    }
    if (!id) return;
    this.loading = true;
    try {
      const [page, ids] = await Promise.all([
        fetchJson(`/api/v1/contacts/${id}/timeline?limit=50`),
        fetchJson(`/api/v1/contacts/${id}/identities`),
      ]);
      if (this.contactId !== id) return;
      this.timeline = page.items;
      this.nextBefore = page.next_before;
      this.ids = ids;
      for (const it of page.items) this.convIds.add(it.message.conversation_id);
      this.error = "";
    } catch (e) {
      if (this.contactId === id) this.error = `Timeline unavailable (${/** @type {HttpError} */ (e).message}).`;
    } finally {
      this.loading = false;
      this.onChange();
    }
  }

  async loadOlder() {
    const id = this.contactId;
    if (!id || !this.nextBefore) return;
    try {
      const page = await fetchJson(`/api/v1/contacts/${id}/timeline?limit=50&before=${this.nextBefore}`);
      if (this.contactId !== id) return;
      this.timeline = [...page.items, ...this.timeline];
      this.nextBefore = page.next_before;
      this.onChange();
    } catch (e) {
      this.toast(`Could not load older messages: ${/** @type {HttpError} */ (e).message}`);
    }
  }

  isSupervisor() {
    const me = this.getMe();
    return !!me && (me.role === "supervisor" || me.role === "admin");
  }

  /**
   * POST one identity action; the toast says how it went.
   * @param {string} path
   * @param {object} body
   * @param {string} okText
   * @returns {Promise<any>} the answer, null when refused or busy
   */
  async act(path, body, okText) {
    if (this.busy) return null;
    this.busy = true;
    this.onChange();
    try {
      const res = await fetchJson(path, { method: "POST", body });
      this.toast(okText, "ok");
      return res;
    } catch (e) {
      this.toast(`${/** @type {HttpError} */ (e).message}`);
      return null;
    } finally {
      this.busy = false;
      this.onChange();
    }
  }

  /** @param {number} otherId */
  async merge(otherId) {
    const id = this.contactId;
    if (!id || !otherId || otherId === id) return;
    if (!window.confirm(`Merge contact #${otherId} into this contact? Its identities, conversations and history move here.`)) return;
    const res = await this.act(`/api/v1/contacts/${id}/merge`, { other_id: otherId }, `Merged contact #${otherId} into #${id}.`);
    if (res) {
      this.lastMerge = { audit_id: res.audit_id, contact_id: id, merged_id: otherId };
      await this.load(id, { quiet: true });
      this.onContactChanged();
    }
  }

  async undoMerge() {
    const m = this.lastMerge;
    if (!m) return;
    const res = await this.act(`/api/v1/contacts/${m.contact_id}/unmerge`, { merge_audit_id: m.audit_id }, `Restored contact #${m.merged_id}.`);
    if (res) {
      this.lastMerge = null;
      await this.load(this.contactId, { quiet: true });
      this.onContactChanged();
    }
  }

  async split() {
    const id = this.contactId;
    const keys = [...this.selected];
    if (!id || !keys.length) return;
    if (!window.confirm(`Move ${keys.join(", ")} and the conversations they started to a new contact?`)) return;
    const res = await this.act(`/api/v1/contacts/${id}/split`, { identities: keys }, "Split into a new contact.");
    if (res) {
      this.selected = new Set();
      await this.load(id, { quiet: true });
      this.onContactChanged();
    }
  }

  /** Send a one-time code to a claimed email/phone; the visitor enters it in the widget. */
  /** @param {string} claim "kind:value" */
  async verify(claim) {
    const id = this.contactId;
    if (!id) return;
    const res = await this.act(`/api/v1/contacts/${id}/verifications`, { claim },
      `Code sent to ${claim.split(":").slice(1).join(":")}: the customer is asked for it in the chat.`);
    if (res) await this.load(id, { quiet: true });
  }

  /** @param {HubEvent} event a verification.updated */
  onVerification(event) {
    /** @type {Record<string, string | null>} */
    const texts = {
      sent: null,
      undeliverable: "The verification code could not be sent.",
      wrong_code: `The customer entered a wrong code (${event.attempts_left} left).`,
      expired: "The verification code expired.",
      locked: "Too many wrong codes: verification locked.",
      verified: "Verified: the customer proved they own this address.",
    };
    const text = texts[event.status];
    if (text) this.toast(text, event.status === "verified" ? "ok" : undefined);
    // A verified claim may have merged this contact: the 360° context reloads too.
    this.load(this.contactId, { quiet: true });
    if (event.status === "verified") this.onContactChanged();
  }

  /**
   * @param {string} kind
   * @param {string} value
   */
  verificationOf(kind, value) {
    const list = (this.ids && this.ids.verifications) || [];
    return list.find((v) => v.kind === kind && v.value === value) || null;
  }

  /** @param {Record<string, any> | null} v */
  verificationLabel(v) {
    if (!v) return "";
    if (v.status === "pending") {
      if (new Date(v.expires_at).getTime() <= Date.now()) return "code expired";
      if (v.delivery === "failed") return `code not sent: ${v.delivery_error || "delivery failed"}`;
      const left = `${v.attempts_left} ${v.attempts_left === 1 ? "try" : "tries"} left`;
      return `${v.delivery === "sent" ? "code sent" : "sending code"} · ${left} · expires ${clock(v.expires_at)}`;
    }
    /** @type {Record<string, string>} */
    const final = { verified: "verified", locked: "locked (too many wrong codes)", expired: "code expired", superseded: "" };
    return final[v.status] || v.status;
  }

  identitySection() {
    const ids = this.ids;
    const sup = this.isSupervisor();
    /** @type {HTMLElement[]} */
    const body = [];
    if (ids) {
      for (const i of ids.identities) {
        const key = `${i.kind}:${i.value}`;
        body.push(el("li", { class: "small", "data-testid": "identity", "data-key": key },
          sup && ids.identities.length > 1
            ? el("input", { type: "checkbox", "aria-label": `Select ${key}`, checked: this.selected.has(key),
                onchange: (/** @type {Event} */ e) => { if (/** @type {HTMLInputElement} */ (e.target).checked) this.selected.add(key); else this.selected.delete(key); this.onChange(); } })
            : null,
          el("span", { class: "k", text: i.kind }), el("span", { class: "v", title: i.value, text: i.value })));
      }
      for (const c of ids.claims) {
        // What a customer typed (pre-chat form, ...) is never proof of who they are.
        const from = c.source === "prechat" ? "pre-chat form" : c.source;
        const ver = this.verificationOf(c.kind, c.value);
        const canVerify = c.kind === "email" || c.kind === "phone";
        const waiting = ver && ver.status === "pending" && ver.delivery !== "failed";
        body.push(el("li", { class: "small muted", "data-testid": "claim", "data-source": c.source || "", "data-key": `${c.kind}:${c.value}` },
          el("span", { class: "k", text: c.kind }), el("span", { class: "v", title: c.value, text: c.value }),
          el("span", { class: "claim-flag", "data-testid": "claim-flag", text: `unverified${from ? ` (${from})` : ""}` }),
          ver ? el("span", { class: "claim-flag", "data-testid": "verification-status", "data-status": ver.status, text: this.verificationLabel(ver) }) : null,
          canVerify
            ? el("button", { type: "button", class: "btn btn-ghost small", disabled: this.busy, "data-testid": "verify-claim",
              title: `Send a one-time code to ${c.value}; the customer enters it in the chat`,
              onclick: () => this.verify(`${c.kind}:${c.value}`), text: waiting ? "Send new code" : "Verify" })
            : null));
      }
      for (const sug of ids.suggestions) {
        // A suggestion rests on something typed, never proven: no merge button. The claim
        // above has "Verify" (a code to that address); a merge by contact id stays possible.
        const why = sug.why === "owns_claim"
          ? `${sug.identity} belongs to another contact (#${sug.contact_id}). Verify the claim to link them.`
          : `Contact #${sug.contact_id} claims ${sug.identity} (unverified); verify it in their chat.`;
        body.push(el("li", { class: "small muted", "data-testid": "merge-suggestion", "data-contact": String(sug.contact_id), "data-why": sug.why },
          el("span", { class: "grow", text: why })));
      }
    }
    const input = el("input", { type: "number", min: "1", placeholder: "Contact #", class: "small", "data-testid": "merge-id", "aria-label": "Contact id to merge into this one" });
    const tools = el("div", { class: "row-between small" },
      el("form", { class: "merge-form", onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); this.merge(parseInt(input.value, 10)); } },
        input, el("button", { type: "submit", class: "btn btn-ghost small", disabled: this.busy, "data-testid": "merge-submit", text: "Merge into this" })),
      sup && this.selected.size
        ? el("button", { type: "button", class: "btn btn-ghost small", disabled: this.busy, "data-testid": "split-submit", onclick: () => this.split(), text: `Split ${this.selected.size} off` })
        : null);
    const undo = sup && this.lastMerge && this.lastMerge.contact_id === this.contactId
      ? el("button", { type: "button", class: "btn btn-ghost small", disabled: this.busy, "data-testid": "unmerge", onclick: () => this.undoMerge(), text: `Undo merge of #${this.lastMerge.merged_id}` })
      : null;
    return el("section", { class: "ctx-section", "data-testid": "identity-panel" },
      el("h3", null, "Identities"),
      body.length ? el("ul", { class: "idl" }, body) : el("p", { class: "muted small", text: "Loading…" }),
      tools, undo);
  }

  /** The latest pre-chat form answers (docs/identity.md): shown, flagged unverified. */
  prechatSection() {
    const sub = this.ids && this.ids.prechat && this.ids.prechat[0];
    if (!sub) return [];
    /** @type {HTMLElement[]} */
    const rows = [];
    /**
     * @param {string} k
     * @param {unknown} v
     * @param {boolean} flag unverified
     */
    const add = (k, v, flag) => rows.push(el("li", { class: "small", "data-testid": "prechat-answer", "data-key": k },
      el("span", { class: "k", text: k }), el("span", { class: "v", title: String(v), text: String(v) }),
      flag ? el("span", { class: "claim-flag", text: "unverified (pre-chat form)" }) : null));
    if (sub.name) add("name", sub.name, false);
    if (sub.email) add("email", sub.email, true);
    if (sub.phone) add("phone", sub.phone, true);
    for (const [k, v] of Object.entries(sub.custom || {})) add(k, v === true ? "yes" : v === false ? "no" : v, false);
    if (sub.consent_given !== null && sub.consent_given !== undefined) {
      add("consent", `${sub.consent_given ? "given" : "declined"} ${clock(sub.consented_at)} (${sub.consent_version})`, false);
    }
    return [el("section", { class: "ctx-section", "data-testid": "prechat-panel" },
      el("h3", null, "Pre-chat form"), el("ul", { class: "idl" }, rows))];
  }

  timelineSection() {
    const items = this.timeline;
    let lastDay = "";
    /** @type {HTMLElement[]} */
    const rows = [];
    for (const it of items) {
      const m = it.message;
      const day = dayLabel(m.created_at);
      if (day !== lastDay) {
        rows.push(el("li", { class: "muted small tl-day", text: day }));
        lastDay = day;
      }
      const who = m.direction === "in" ? "Customer" : (m.author && m.author.name) || m.author.kind;
      rows.push(el("li", {
        class: `tl-item${m.private ? " tl-private" : ""}`, "data-testid": "timeline-item",
        "data-channel": m.channel, "data-conversation": String(m.conversation_id),
      },
      el("button", { type: "button", class: "prev-btn", title: `Open conversation #${m.conversation_id}`,
        onclick: () => this.onOpenConversation(m.conversation_id) },
      channelIcon(m.channel),
      el("span", { class: "grow ellipsis" },
        el("strong", { text: `${who}: ` }), m.private ? "(note) " : "", m.text),
      el("span", { class: "muted small", text: `${CHANNEL_LABEL[m.channel] || m.channel} · ${clock(m.created_at)}` }))));
    }
    return el("section", { class: "ctx-section", "data-testid": "timeline" },
      el("h3", null, "Timeline · all channels", el("span", { class: "count", text: String(items.length) })),
      this.error ? el("p", { class: "muted small", text: this.error }) : null,
      this.nextBefore ? el("button", { type: "button", class: "btn btn-ghost small", onclick: () => this.loadOlder(), text: "Load older" }) : null,
      rows.length ? el("ul", { class: "prev" }, rows) : el("p", { class: "muted small", text: this.loading ? "Loading…" : "No messages yet." }));
  }
}
