// omnihub inbox: the contact's cross-channel timeline, identities, claims and merge
// suggestions, appended to the 360° panel. REST only (docs/identity.md); refreshed when
// a message event arrives for one of the contact's conversations.

import { channelIcon, CHANNEL_LABEL, clock, dayLabel, el } from "./inbox-view.js";

async function getJSON(path, opts = {}) {
  const res = await fetch(path, {
    credentials: "same-origin",
    headers: opts.body ? { "Content-Type": "application/json" } : {},
    ...opts,
  });
  let body = null;
  try { body = await res.json(); } catch (_) { /* empty */ }
  if (!res.ok) {
    const err = new Error((body && body.reason) || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

export class ContactPanel {
  constructor({ onOpenConversation, onChange, toast } = {}) {
    this.contactId = null;
    this.timeline = [];
    this.nextBefore = null;
    this.ids = null;
    this.error = "";
    this.loading = false;
    this.onOpenConversation = onOpenConversation || (() => {});
    this.onChange = onChange || (() => {});
    this.toast = toast || ((t) => console.warn(t));
    this.convIds = new Set();
    this.refreshTimer = null;
  }

  /** Called on every inbox render with the current 360° context (or null). */
  render(root, ctx) {
    const id = ctx && ctx.contact ? ctx.contact.id : null;
    if (id !== this.contactId) this.load(id);
    if (!id) return;
    for (const c of ctx.conversations || []) this.convIds.add(c.id);
    root.append(this.identitySection(), this.timelineSection());
  }

  /** Called for every event the inbox receives. */
  onEvent(event) {
    if (!this.contactId || !event || event.type !== "message.created") return;
    if (!this.convIds.has(event.message.conversation_id)) return;
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.load(this.contactId, { quiet: true }), 300);
  }

  async load(id, { quiet = false } = {}) {
    if (!quiet) {
      this.contactId = id;
      this.timeline = [];
      this.nextBefore = null;
      this.ids = null;
      this.convIds = new Set();
      this.error = "";
    }
    if (!id) return;
    this.loading = true;
    try {
      const [page, ids] = await Promise.all([
        getJSON(`/api/v1/contacts/${id}/timeline?limit=50`),
        getJSON(`/api/v1/contacts/${id}/identities`),
      ]);
      if (this.contactId !== id) return;
      this.timeline = page.items;
      this.nextBefore = page.next_before;
      this.ids = ids;
      for (const it of page.items) this.convIds.add(it.message.conversation_id);
      this.error = "";
    } catch (e) {
      if (this.contactId === id) this.error = `Timeline unavailable (${e.message}).`;
    } finally {
      this.loading = false;
      this.onChange();
    }
  }

  async loadOlder() {
    const id = this.contactId;
    if (!id || !this.nextBefore) return;
    try {
      const page = await getJSON(`/api/v1/contacts/${id}/timeline?limit=50&before=${this.nextBefore}`);
      if (this.contactId !== id) return;
      this.timeline = [...page.items, ...this.timeline];
      this.nextBefore = page.next_before;
      this.onChange();
    } catch (e) {
      this.toast(`Could not load older messages: ${e.message}`);
    }
  }

  identitySection() {
    const ids = this.ids;
    const body = [];
    if (ids) {
      for (const c of ids.claims) {
        body.push(el("li", { class: "small muted", "data-testid": "claim" },
          `unverified ${c.kind}: ${c.value}${c.source ? ` (from ${c.source})` : ""}`));
      }
      for (const s of ids.suggestions) {
        body.push(el("li", { class: "small", "data-testid": "merge-suggestion", "data-contact": String(s.contact_id) },
          el("span", { text: `Possibly the same person: #${s.contact_id} ${s.name} (${s.identity})` })));
      }
    }
    return el("section", { class: "ctx-section", "data-testid": "identity-panel" },
      el("h3", null, "Identity"),
      body.length ? el("ul", { class: "kv" }, body) : el("p", { class: "muted small", text: "No unverified claims." }));
  }

  timelineSection() {
    const items = this.timeline;
    let lastDay = "";
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
