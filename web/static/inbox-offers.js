// @ts-check
// omnihub inbox: routing. Offers with Accept / Decline and a live countdown, the agent's
// presence selector, and (supervisors) a live queue board. REST for actions and the
// initial state, socket events (workitem.offered / offer_ended, agent.presence,
// queue.stats) for everything live. See docs/routing.md.

import { CHANNEL_SHORT } from "./lib/channels.js";
import { el as h, keptSelect } from "./lib/dom.js";
import { duration as fmtWait } from "./lib/format.js";
import { fetchJson as call } from "./lib/http.js";

const CSS_HREF = "/static/inbox-offers.css";

/** @typedef {import("./lib/types.js").HubEvent} HubEvent */
/** @typedef {import("./lib/types.js").Me} Me */
/** @typedef {import("./lib/types.js").Offer} Offer */
/** @typedef {import("./lib/types.js").QueueStats} QueueStats */
/** @typedef {import("./lib/types.js").BoardItem} BoardItem */
/** @typedef {import("./lib/types.js").PickableItem} PickableItem */
/** @typedef {import("./lib/types.js").ActiveItem} ActiveItem */
/** @typedef {import("./lib/types.js").RoutingAgent} RoutingAgent */
/** @typedef {import("./lib/http.js").HttpError} HttpError */

/** @type {Record<string, string>} */
const PRESENCE_LABEL = { online: "Available", away: "Away", busy: "Busy", offline: "Offline" };
const STATUS_OF = { online: "available", away: "away", busy: "busy", offline: "offline" };

export class RoutingPanel {
  /**
   * @param {{toast?: (text: string, kind?: string) => void, onOpenConversation?: (id: number) => void}} [deps]
   */
  constructor({ toast, onOpenConversation } = {}) {
    this.toast = toast || ((/** @type {string} */ t) => console.warn(t));
    this.open = onOpenConversation || (() => {});
    /** @type {Me | null} */
    this.me = null;
    /** @type {Map<number, Offer>} work_item_id -> offer */
    this.offers = new Map();
    /** @type {Set<number>} work items with a request in flight */
    this.busy = new Set();
    this.presence = "offline";
    this.status = "available";
    /** @type {Map<string, QueueStats>} queue -> stats */
    this.board = new Map();
    /** @type {PickableItem[]} items the agent may pick (REST, refreshed while the board is open) */
    this.pickable = [];
    /** @type {ActiveItem[]} supervisors: items held by agents */
    this.active = [];
    /** @type {RoutingAgent[]} supervisors: agents with a routing profile (reassign targets) */
    this.agents = [];
    /** @type {string[]} */
    this.queueNames = [];
    /** @type {Map<string, string>} supervisors: reassign/transfer choices, kept across re-renders */
    this.picked = new Map();
    this.boardOpen = false;
    this.boardTimer = 0;
    this.tick = 0;
    this.started = false;
    // Made by mount() (none before: the render methods check presenceEl / tray / boardEl).
    /** @type {HTMLLabelElement | undefined} */
    this.presenceEl;
    /** @type {HTMLSpanElement} */
    this.presenceDot;
    /** @type {HTMLSelectElement} */
    this.presenceSelect;
    /** @type {HTMLButtonElement} */
    this.boardBtn;
    /** @type {HTMLElement | undefined} */
    this.boardEl;
    /** @type {HTMLElement | undefined} */
    this.tray;
  }

  get supervises() {
    return this.me && (this.me.role === "supervisor" || this.me.role === "admin");
  }

  /**
   * Called once the socket said hello (and again after every reconnect).
   * @param {Me} me
   */
  async start(me) {
    this.me = me;
    if (!this.started) {
      this.started = true;
      this.mount();
      this.tick = setInterval(() => this.renderCountdowns(), 250);
    }
    await this.reload();
  }

  async reload() {
    try {
      const [offers, presence] = await Promise.all([
        call("/api/v1/routing/offers"), call("/api/v1/routing/presence"),
      ]);
      const skew = Date.now() / 1000 - offers.now;
      this.offers.clear();
      for (const o of offers.offers) {
        this.offers.set(o.work_item_id, { ...o, expiresMs: (o.expires_at + skew) * 1000,
          totalMs: (o.expires_at - o.offered_at) * 1000 });
      }
      const me = /** @type {Me} */ (this.me); // set by start()
      const mine = presence.agents.find((/** @type {RoutingAgent} */ a) => a.agent_id === me.id);
      if (mine) { this.presence = mine.presence; this.status = mine.status; }
      await this.loadBoard();
    } catch (e) {
      this.toast(`Routing: ${/** @type {HttpError} */ (e).message}`);
    }
    this.render();
  }

  async loadBoard() {
    const q = await call("/api/v1/routing/queues");
    this.board.clear();
    for (const s of q.queues) this.board.set(s.queue, { ...s, at: Date.now() });
    this.pickable = q.pickable;
    this.active = q.active || [];
    this.agents = q.agents || [];
    this.queueNames = q.queue_names || [];
  }

  /** @param {HubEvent | null | undefined} event */
  onEvent(event) {
    if (!event || !this.me) return;
    switch (event.type) {
      case "workitem.offered":
        if (event.agent_id !== this.me.id) return; // supervisors see them on the board
        // The event carries the offer's fields (docs/routing.md).
        this.offers.set(event.work_item_id, /** @type {Offer} */ (/** @type {unknown} */ ({ ...event, expiresMs: Date.parse(event.expires_at),
          totalMs: Date.parse(event.expires_at) - Date.parse(event.offered_at) })));
        this.render();
        break;
      case "workitem.offer_ended":
        if (event.agent_id !== this.me.id) return;
        if (this.offers.delete(event.work_item_id)) {
          if (event.outcome === "rescinded") this.toast("Offer withdrawn (taken by someone else).", "info");
          if (event.outcome === "timed_out") this.toast("Offer timed out.", "info");
          this.render();
        }
        break;
      case "agent.presence":
        if (event.agent_id === this.me.id) {
          this.presence = event.presence;
          this.renderPresence();
        }
        break;
      case "queue.stats":
        // The event carries the queue's figures.
        this.board.set(event.queue, /** @type {QueueStats} */ (/** @type {unknown} */ ({ ...event, at: Date.now() })));
        this.renderBoard();
        break;
      default:
    }
  }

  // ---- DOM ---------------------------------------------------------------------------

  mount() {
    if (!document.querySelector(`link[href="${CSS_HREF}"]`)) {
      document.head.append(h("link", { rel: "stylesheet", href: CSS_HREF }));
    }
    const bar = document.querySelector(".topbar");
    const me = bar && bar.querySelector(".me");
    this.presenceEl = h("label", { class: "presence", "data-testid": "presence" });
    this.presenceDot = h("span", { class: "presence-dot", "aria-hidden": "true" });
    this.presenceSelect = h("select", { "data-testid": "presence-select", "aria-label": "Your status",
      onchange: () => this.setStatus(this.presenceSelect.value) });
    for (const [value, label] of [["available", "Available"], ["away", "Away"], ["busy", "Busy"], ["offline", "Offline"]]) {
      this.presenceSelect.append(h("option", { value, text: label }));
    }
    this.presenceEl.append(this.presenceDot, this.presenceSelect);
    this.boardBtn = h("button", { type: "button", class: "btn btn-ghost board-toggle", "data-testid": "queue-board-toggle",
      "aria-expanded": "false", text: "Queues", onclick: () => this.toggleBoard() });
    this.boardEl = h("section", { class: "queue-board", "data-testid": "queue-board", "aria-label": "Queue board", hidden: true });
    if (bar) {
      bar.insertBefore(this.presenceEl, me || null);
      bar.insertBefore(this.boardBtn, this.presenceEl);
      bar.append(this.boardEl);
    }
    this.tray = h("section", { class: "offer-tray", "data-testid": "offer-tray", "aria-label": "Offers", "aria-live": "assertive" });
    (document.getElementById("dock") || document.body).append(this.tray);
  }

  render() {
    this.renderPresence();
    this.renderOffers();
    this.renderBoard();
  }

  renderPresence() {
    if (!this.presenceEl) return;
    this.presenceEl.dataset.presence = this.presence;
    const boardBtn = /** @type {HTMLButtonElement} */ (this.boardBtn); // mount() makes both
    this.presenceEl.title = `You are ${PRESENCE_LABEL[this.presence] || this.presence}`;
    // The select shows what the agent chose; the dot what routing sees (auto-away...).
    if (document.activeElement !== this.presenceSelect) this.presenceSelect.value = this.status;
    boardBtn.hidden = !this.me;
  }

  renderOffers() {
    if (!this.tray) return;
    const offers = [...this.offers.values()].sort((a, b) => a.expiresMs - b.expiresMs);
    this.tray.replaceChildren(...offers.map((o) => this.offerCard(o)));
    this.renderCountdowns();
  }

  /** @param {Offer} o */
  offerCard(o) {
    const id = o.work_item_id;
    const pending = this.busy.has(id);
    const who = o.contact_name || `Conversation #${o.conversation_id}`;
    return h("article", { class: "offer-card", "data-testid": "offer-card", "data-item": String(id), "data-channel": o.channel },
      h("header", {},
        h("span", { class: "offer-channel", text: CHANNEL_SHORT[o.channel] || o.channel }),
        h("span", { class: "offer-queue", text: o.queue }),
        h("span", { class: "offer-countdown", "data-testid": "offer-countdown", "data-expires": String(o.expiresMs) })),
      h("div", { class: "offer-who", dir: "auto", text: who }),
      o.preview || o.subject ? h("p", { class: "offer-preview", dir: "auto", text: o.subject || o.preview }) : null,
      h("div", { class: "offer-bar" }, h("span", { class: "offer-bar-fill" })),
      h("footer", {},
        h("button", { type: "button", class: "btn btn-primary", "data-testid": "offer-accept", disabled: pending,
          text: "Accept", onclick: () => this.act(o, "accept") }),
        h("button", { type: "button", class: "btn btn-ghost", "data-testid": "offer-decline", disabled: pending,
          text: "Decline", onclick: () => this.act(o, "decline") })));
  }

  renderCountdowns() {
    if (!this.tray) return;
    const now = Date.now();
    for (const card of /** @type {NodeListOf<HTMLElement>} */ (this.tray.querySelectorAll(".offer-card"))) {
      const o = this.offers.get(Number(card.dataset.item));
      if (!o) continue;
      const left = Math.max(0, (o.expiresMs - now) / 1000);
      const total = Math.max(1, (o.totalMs || 30000) / 1000);
      // Both are in every card (offerCard).
      /** @type {HTMLElement} */ (card.querySelector(".offer-countdown")).textContent = left > 0 ? `${Math.ceil(left)}s` : "expiring…";
      /** @type {HTMLElement} */ (card.querySelector(".offer-bar-fill")).style.width = `${Math.min(100, (left / total) * 100)}%`;
      card.classList.toggle("urgent", left <= 5);
    }
    if (this.boardOpen) this.renderWaits();
  }

  /**
   * @param {Offer} o
   * @param {"accept" | "decline"} verb
   */
  async act(o, verb) {
    const id = o.work_item_id;
    this.busy.add(id);
    this.renderOffers();
    try {
      await call(`/api/v1/work-items/${id}/${verb}`, { method: "POST" });
      this.offers.delete(id);
      if (verb === "accept" && o.conversation_id) this.open(o.conversation_id);
    } catch (caught) {
      const e = /** @type {HttpError} */ (caught);
      this.toast(e.status === 409 ? `Too late: ${e.message}` : `Could not ${verb}: ${e.message}`);
      if (e.status === 409 || e.status === 404) this.offers.delete(id);
    } finally {
      this.busy.delete(id);
      this.renderOffers();
    }
  }

  /** @param {string} status */
  async setStatus(status) {
    const before = this.status;
    this.status = status;
    try {
      await call("/api/v1/routing/presence", { method: "PUT", body: { status } });
    } catch (e) {
      this.status = before;
      this.toast(`Could not change your status: ${/** @type {HttpError} */ (e).message}`);
    }
    this.renderPresence();
  }

  toggleBoard() {
    this.boardOpen = !this.boardOpen;
    /** @type {HTMLElement} */ (this.boardEl).hidden = !this.boardOpen; // its button exists only after mount()
    this.boardBtn.setAttribute("aria-expanded", String(this.boardOpen));
    clearInterval(this.boardTimer);
    if (this.boardOpen) {
      // Agents get no queue.stats events: refresh while the board is open.
      const refresh = () => this.loadBoard().then(() => this.renderBoard()).catch(() => {});
      refresh();
      this.boardTimer = setInterval(refresh, this.supervises ? 10000 : 3000);
    }
    this.renderBoard();
  }

  /** @param {BoardItem} item */
  async pick(item) {
    try {
      await call(`/api/v1/work-items/${item.work_item_id}/pick`, { method: "POST" });
      this.pickable = this.pickable.filter((p) => p.work_item_id !== item.work_item_id);
      this.renderBoard();
      this.toast("Picked: it is yours now.", "ok");
      if (item.conversation_id) this.open(item.conversation_id);
    } catch (e) {
      this.toast(`Could not pick: ${/** @type {HttpError} */ (e).message}`);
      await this.loadBoard().catch(() => {});
      this.renderBoard();
    }
  }

  renderBoard() {
    if (!this.boardEl || !this.me) return;
    const rows = [...this.board.values()].sort((a, b) => a.queue.localeCompare(b.queue));
    const waiting = rows.reduce((n, s) => n + s.depth, 0);
    this.boardBtn.textContent = waiting ? `Queues · ${waiting} waiting` : "Queues";
    if (!this.boardOpen) return;
    const table = h("table", {},
      h("thead", {}, h("tr", {}, ...["Queue", "Waiting", "Oldest wait", "Offered", "Assigned", "Agents free / online"]
        .map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, ...rows.map((s) => h("tr", { "data-testid": "queue-row", "data-queue": s.queue },
        h("th", { scope: "row", text: s.queue }),
        h("td", { "data-testid": "queue-depth", text: String(s.depth) }),
        h("td", { class: "wait", "data-wait": String(s.oldest_wait_s), "data-at": String(s.at), text: fmtWait(s.oldest_wait_s) }),
        h("td", { text: String(s.offered) }),
        h("td", { text: String(s.assigned) }),
        h("td", { text: `${s.agents_available} / ${s.agents_online}` })))));
    const picks = this.pickable.length
      ? h("ul", { class: "pick-list", "data-testid": "pick-list" }, ...this.pickable.map((p) => h("li", {},
        h("span", { text: `${p.contact_name || "#" + p.work_item_id} · ${CHANNEL_SHORT[p.channel] || p.channel} · ${p.queue} · waiting ${fmtWait(p.waiting_s)}${p.offered ? " · offered" : ""}` }),
        h("button", { type: "button", class: "btn", "data-testid": "pick", text: "Pick", onclick: () => this.pick(p) }),
        ...(this.supervises ? [this.moveControls(p)] : []))))
      : h("p", { class: "muted", text: "Nothing waiting that you may pick." });
    /** @type {HTMLElement[]} */
    const parts = [h("h2", { text: "Queues" }), table, h("h2", { text: "Waiting" }), picks];
    if (this.supervises) {
      parts.push(h("h2", { text: "In progress" }), this.renderActive(),
        h("a", { class: "btn btn-ghost", href: "/board", "data-testid": "open-wallboard", text: "Open the wallboard" }));
    }
    this.boardEl.replaceChildren(...parts);
  }

  renderActive() {
    if (!this.active.length) return h("p", { class: "muted", text: "No agent holds an item." });
    const name = (/** @type {BoardItem} */ p) => p.agent_name || (this.agents.find((a) => a.agent_id === p.agent_id) || {}).name || "another agent";
    return h("ul", { class: "pick-list", "data-testid": "active-list" }, ...this.active.map((p) => h("li", { "data-item": String(p.work_item_id) },
      h("span", { text: `${p.contact_name || "#" + p.work_item_id} · ${CHANNEL_SHORT[p.channel] || p.channel} · ${p.queue} · ${name(p)}${p.status === "wrapup" ? " (wrap-up)" : ""} · ${fmtWait(p.held_s)}` }),
      this.moveControls(p))));
  }

  /**
   * Supervisors: hand an item to an agent (reassign) or back to a queue (transfer).
   * @param {BoardItem} item
   */
  moveControls(item) {
    const id = item.work_item_id;
    const agentSel = keptSelect(this.picked, `agent:${id}`, { "aria-label": "Reassign to agent", "data-testid": "reassign-agent" },
      [{ value: "", text: "Agent…" }, ...this.agents.filter((a) => a.agent_id !== item.agent_id)
        .map((a) => ({ value: String(a.agent_id), text: `${a.name} (${a.presence})` }))]);
    const queueSel = keptSelect(this.picked, `queue:${id}`, { "aria-label": "Transfer to queue", "data-testid": "transfer-queue" },
      [{ value: "", text: "Queue…" }, ...this.queueNames.filter((q) => q !== item.queue || item.agent_id != null)
        .map((q) => ({ value: q, text: q }))]);
    const go = (/** @type {object} */ body, /** @type {string} */ what) => this.move(item, body, what);
    return h("span", { class: "move-controls" },
      agentSel,
      h("button", { type: "button", class: "btn btn-ghost", "data-testid": "reassign", text: "Reassign",
        onclick: () => agentSel.value && go({ agent_id: Number(agentSel.value) }, "Reassigned") }),
      queueSel,
      h("button", { type: "button", class: "btn btn-ghost", "data-testid": "transfer", text: "Transfer",
        onclick: () => queueSel.value && go({ queue: queueSel.value }, "Transferred") }));
  }

  /**
   * @param {BoardItem} item
   * @param {object} body
   * @param {string} what said in the toast ("Reassigned")
   */
  async move(item, body, what) {
    this.picked.delete(`agent:${item.work_item_id}`);
    this.picked.delete(`queue:${item.work_item_id}`);
    try {
      await call(`/api/v1/work-items/${item.work_item_id}/transfer`, { method: "POST", body });
      this.toast(`${what}.`, "ok");
    } catch (e) {
      this.toast(`Could not move #${item.work_item_id}: ${/** @type {HttpError} */ (e).message}`);
    }
    await this.loadBoard().catch(() => {});
    this.renderBoard();
  }

  renderWaits() {
    // Oldest wait keeps growing between stats pushes when something is waiting.
    if (!this.boardEl) return;
    for (const td of /** @type {NodeListOf<HTMLElement>} */ (this.boardEl.querySelectorAll("td.wait"))) {
      const base = Number(td.dataset.wait);
      if (base > 0) td.textContent = fmtWait(base + (Date.now() - Number(td.dataset.at)) / 1000);
    }
  }
}
