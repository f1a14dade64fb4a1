// @ts-check
// The inbox's icons, avatars and names, plus the customer context panel. The DOM builder,
// formatting and channel labels are the kernel's (lib/).
// User data is only ever inserted as text (textContent / attributes), never as HTML.

import { CHANNEL_LABEL, channelIconName } from "./lib/channels.js";
import { el } from "./lib/dom.js";
import { date, money, relTime } from "./lib/format.js";

/** @typedef {import("./lib/types.js").CustomerContext} CustomerContext */
/** @typedef {import("./lib/types.js").Identity} Identity */
/** @typedef {import("./lib/dom.js").Child} Child */

/** @type {Record<string, string>} */
const PATHS = {
  chat: '<path d="M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z"/>',
  email: '<rect x="3" y="5" width="18" height="14" rx="2"/><path d="M3 7l9 6 9-6"/>',
  sms: '<rect x="6" y="2" width="12" height="20" rx="2"/><path d="M11 18h2"/>',
  voice: '<path d="M22 16.9v3a2 2 0 0 1-2.2 2 19.8 19.8 0 0 1-8.6-3.1 19.5 19.5 0 0 1-6-6A19.8 19.8 0 0 1 2.1 4.2 2 2 0 0 1 4.1 2h3a2 2 0 0 1 2 1.7c.1 1 .4 1.9.7 2.8a2 2 0 0 1-.5 2.1L8 9.9a16 16 0 0 0 6 6l1.3-1.3a2 2 0 0 1 2.1-.4c.9.3 1.8.6 2.8.7a2 2 0 0 1 1.7 2z"/>',
  api: '<path d="M8 6l-6 6 6 6M16 6l6 6-6 6"/>',
  social: '<circle cx="12" cy="12" r="9"/><path d="M8 12h8M12 8v8"/>',
  bot: '<rect x="4" y="8" width="16" height="12" rx="3"/><path d="M12 4v4M9 14h.01M15 14h.01"/>',
  tv: '<rect x="3" y="5" width="18" height="12" rx="2"/><path d="M8 21h8M12 17v4"/>',
  internet: '<path d="M5 12.5a10 10 0 0 1 14 0M8.5 16a5 5 0 0 1 7 0M2 9a15 15 0 0 1 20 0"/><circle cx="12" cy="19.5" r="1"/>',
  phone: '<path d="M22 16.9v3a2 2 0 0 1-2.2 2 19.8 19.8 0 0 1-8.6-3.1 19.5 19.5 0 0 1-6-6A19.8 19.8 0 0 1 2.1 4.2 2 2 0 0 1 4.1 2h3a2 2 0 0 1 2 1.7c.1 1 .4 1.9.7 2.8a2 2 0 0 1-.5 2.1L8 9.9a16 16 0 0 0 6 6l1.3-1.3a2 2 0 0 1 2.1-.4c.9.3 1.8.6 2.8.7a2 2 0 0 1 1.7 2z"/>',
  visitor: '<circle cx="12" cy="8" r="4"/><path d="M4 21a8 8 0 0 1 16 0"/>',
  lock: '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/>',
  check: '<path d="M20 6L9 17l-5-5"/>',
  undo: '<path d="M3 7v6h6"/><path d="M21 17a9 9 0 0 0-15-6.7L3 13"/>',
  user: '<circle cx="12" cy="8" r="4"/><path d="M4 21a8 8 0 0 1 16 0"/>',
  send: '<path d="M22 2L11 13"/><path d="M22 2l-7 20-4-9-9-4 20-7z"/>',
  logout: '<path d="M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9"/>',
  inbox: '<path d="M22 12h-6l-2 3h-4l-2-3H2"/><path d="M5.5 5.1L2 12v6a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2v-6l-3.5-6.9A2 2 0 0 0 16.8 4H7.2a2 2 0 0 0-1.7 1.1z"/>',
};

/**
 * An inline SVG icon (constant markup only).
 * @param {string} name
 * @param {number} [size]
 * @param {string} [cls]
 */
export function icon(name, size = 16, cls = "icon") {
  const span = document.createElement("span");
  span.className = cls;
  span.setAttribute("aria-hidden", "true");
  span.innerHTML = `<svg width="${size}" height="${size}" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">${PATHS[name] || PATHS.chat}</svg>`;
  return span;
}

/**
 * @param {string} channel
 * @param {number} [size]
 */
export function channelIcon(channel, size = 14) {
  const i = icon(channelIconName(channel), size, `icon ch ch-${channel}`);
  i.title = CHANNEL_LABEL[channel] || channel;
  return i;
}

/**
 * The name to show for a contact. Anonymous widget visitors have no name (or their random
 * visitor id as name): show "Visitor <first 6 chars>" instead of a 22-character token.
 * `identity` is "kind:value" (Conversation.contact_identity) or an {kind, value} list.
 * @param {string | null | undefined} name
 * @param {string | Identity[] | null | undefined} identity
 * @returns {string}
 */
export function displayName(name, identity) {
  const ids = Array.isArray(identity)
    ? identity
    : identity
      ? [{ kind: String(identity).split(":")[0], value: String(identity).slice(String(identity).indexOf(":") + 1) }]
      : [];
  const visitor = ids.find((i) => i.kind === "visitor");
  if (visitor && (!name || name === visitor.value)) return `Visitor ${visitor.value.slice(0, 6)}`;
  if (name) return name;
  return ids.length ? ids[0].value : "";
}

/** @param {string | null | undefined} name */
export function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
  const s = (parts[0] ? parts[0][0] : "?") + (parts.length > 1 ? parts[parts.length - 1][0] : "");
  return s.toUpperCase();
}

/**
 * A stable pastel colour per name for avatars.
 * @param {string | null | undefined} name
 * @param {string} [size]
 */
export function avatar(name, size = "md") {
  let h = 0;
  for (const ch of String(name || "")) h = (h * 31 + /** @type {number} */ (ch.codePointAt(0))) % 360;
  return el("span", {
    class: `avatar avatar-${size}`, style: `--h:${h}`, "aria-hidden": "true", text: initials(name),
  });
}

/**
 * @param {string} text
 * @param {string} tone
 */
function pill(text, tone) {
  return el("span", { class: `pill pill-${tone}`, text });
}

/** @type {Record<string, string>} */
const STATUS_TONE = {
  active: "green", paid: "green", delivered: "green", open: "blue", processing: "blue",
  shipped: "blue", pending: "amber", suspended: "red", overdue: "red", cancelled: "gray",
  returned: "gray", resolved: "gray", terminated: "gray",
};

/** @param {string} s */
export function statusPill(s) {
  return pill(s, STATUS_TONE[s] || "gray");
}

/**
 * @param {string} title
 * @param {number | null} count
 * @param {...(Child | Child[])} body
 */
function section(title, count, ...body) {
  return el("section", { class: "ctx-section" },
    el("h3", null, title, count != null ? el("span", { class: "count", text: String(count) }) : null),
    ...body);
}

/** @param {string} text */
function empty(text) {
  return el("p", { class: "muted small", text });
}

/**
 * Render the customer context ({contact, identities, accounts, orders, invoices,
 * conversations}) into `root`. `onOpenConversation(id)` is called for previous conversations.
 * @param {HTMLElement} root
 * @param {CustomerContext | null | undefined} ctx
 * @param {{currentId?: number | null, onOpenConversation?: (id: number) => void, loading?: boolean,
 *   error?: string}} [opts]
 */
export function renderContext(root, ctx, { currentId, onOpenConversation, loading, error } = {}) {
  root.replaceChildren();
  if (error) {
    root.append(el("div", { class: "ctx-empty" }, el("p", { class: "muted", text: error })));
    return;
  }
  if (loading || !ctx) {
    root.append(el("div", { class: "ctx-empty" },
      el("div", { class: "skeleton w60" }), el("div", { class: "skeleton w40" }), el("div", { class: "skeleton w80" })));
    return;
  }
  const c = ctx.contact || {};
  const tier = String(c.tier || "standard");
  const ids = ctx.identities && ctx.identities.length ? ctx.identities : c.identities || [];
  const name = displayName(c.name, ids) || "Unknown customer";
  const head = el("div", { class: "ctx-head" },
    avatar(name, "lg"),
    el("div", { class: "ctx-name" },
      el("h2", { "data-testid": "context-name", text: name }),
      el("div", { class: "ctx-badges" },
        tier === "vip"
          ? el("span", { class: "badge-vip", "data-testid": "context-vip", title: "VIP customer", text: "★ VIP" })
          : el("span", { class: `pill pill-${tier === "plus" ? "blue" : "gray"}`, text: tier }),
        c.locale ? el("span", { class: "pill pill-gray nocap", title: "Language", text: c.locale }) : null)));
  root.append(head);

  root.append(section("Contact", null,
    el("ul", { class: "kv" },
      ids.length
        ? ids.map((/** @type {Identity} */ i) => el("li", null, icon(i.kind === "email" ? "email" : i.kind === "phone" ? "phone" : i.kind === "visitor" ? "visitor" : "social", 14),
            el("span", { class: "k", text: i.kind }), el("span", { class: "v", title: i.value, text: i.value })))
        : [c.email && el("li", null, icon("email", 14), el("span", { class: "k", text: "email" }), el("span", { class: "v", text: c.email })),
           c.phone && el("li", null, icon("phone", 14), el("span", { class: "k", text: "phone" }), el("span", { class: "v", text: c.phone }))])));

  const accounts = ctx.accounts || [];
  const monthly = accounts.filter((a) => a.status === "active").reduce((s, a) => s + (parseFloat(a.monthly_fee) || 0), 0);
  root.append(section("Services", accounts.length,
    accounts.length
      ? el("ul", { class: "cards" }, accounts.map((a) => el("li", { class: "card svc", "data-testid": "context-account" },
          el("div", { class: `svc-icon svc-${a.service}` }, icon(a.service === "tv" ? "tv" : a.service === "internet" ? "internet" : "phone", 16)),
          el("div", { class: "grow" },
            el("div", { class: "row-between" }, el("strong", { text: a.plan }), el("span", { class: "fee", text: `${money(a.monthly_fee)}/mo` })),
            el("div", { class: "row-between" },
              el("span", { class: "muted small", text: `${a.account_no || ""}${a.since ? ` · since ${date(a.since)}` : ""}` }),
              statusPill(a.status))))))
      : empty("No active services."),
    accounts.length ? el("p", { class: "small total" }, "Monthly total ", el("strong", { text: money(monthly) })) : null));

  const invoices = ctx.invoices || [];
  const overdue = invoices.filter((i) => i.status === "overdue");
  root.append(section("Invoices", invoices.length,
    overdue.length ? el("div", { class: "alert", role: "note", text: `${overdue.length} overdue invoice${overdue.length > 1 ? "s" : ""} · ${money(overdue.reduce((s, i) => s + (parseFloat(i.amount) || 0), 0))}` }) : null,
    invoices.length
      ? el("table", { class: "tbl" }, el("tbody", null, invoices.map((i) => el("tr", {
          class: i.status === "overdue" ? "overdue" : "", "data-testid": "context-invoice", "data-status": i.status,
        }, el("td", null, el("div", { class: "inv-no", text: i.invoice_no }), el("div", { class: "muted small", text: `due ${date(i.due_date)}` })),
        el("td", { class: "num", text: money(i.amount) }), el("td", { class: "end" }, statusPill(i.status))))))
      : empty("No invoices.")));

  const orders = ctx.orders || [];
  root.append(section("Recent orders", orders.length,
    orders.length
      ? el("ul", { class: "cards" }, orders.map((o) => {
          const items = Array.isArray(o.items) ? o.items : [];
          const names = items.map((/** @type {any} */ it) => (typeof it === "string" ? it : `${it.qty && it.qty > 1 ? `${it.qty}× ` : ""}${it.name || it.sku || ""}`)).join(", ");
          return el("li", { class: "card", "data-testid": "context-order" },
            el("div", { class: "grow" },
              el("div", { class: "row-between" }, el("strong", { text: o.order_no }), statusPill(o.status)),
              names ? el("div", { class: "small", text: names }) : null,
              el("div", { class: "muted small", text: `${date(o.created_at)} · ${money(o.total)}` })));
        }))
      : empty("No orders.")));

  const convs = (ctx.conversations || []).filter((x) => x.id !== currentId);
  root.append(section("Previous conversations", convs.length,
    convs.length
      ? el("ul", { class: "prev" }, convs.map((x) => el("li", null, el("button", {
          type: "button", class: "prev-btn", onclick: () => onOpenConversation && onOpenConversation(x.id),
        }, channelIcon(x.channel), el("span", { class: "grow ellipsis", text: x.subject || `#${x.id} · ${CHANNEL_LABEL[x.channel] || x.channel}` }),
        statusPill(x.status), el("span", { class: "muted small", text: relTime(x.last_message_at || x.created_at) })))))
      : empty("This is the first conversation.")));
}
