// @ts-check
// Settings → Bots (admins): create a bot (its token and webhook signing secret are shown
// once), put it in front of a queue, edit its webhook URL and reply timeout, disable or
// enable it, rotate its token or signing secret, and read its webhook delivery log.
// Everything goes through the bot admin REST API (docs/bots.md); the server checks
// every rule and its reason is shown next to the form.

import { api, flash, form, h, secretBox } from "./admin-kit.js";
import { dateTime } from "./lib/format.js";

/** @typedef {import("./lib/types.js").Bot} Bot */
/** @typedef {import("./lib/types.js").BotDelivery} BotDelivery */
/** @typedef {import("./lib/http.js").HttpError} HttpError */

/**
 * @type {{bots: Bot[], queues: string[], bot: number | null, log: BotDelivery[],
 *   shown: Record<string, string> | null}} `bot`: the selected one; `shown`: secrets to show once
 */
const state = { bots: [], queues: [], bot: null, log: [], shown: null };

/**
 * @param {string} name
 * @param {string} label
 * @param {unknown} [value]
 * @param {string} [type]
 */
function input(name, label, value = "", type = "text") {
  return h("label", {}, label, h("input", { name, type, value: String(value ?? ""), autocomplete: "off", "data-testid": `bot-field-${name}` }));
}

/** @param {Record<string, string> | null} shown */
function secrets(shown) {
  return shown ? secretBox(shown, "bot-secrets", "bot-secret-") : null;
}

/**
 * A whole number as a number; anything else as typed (the server says what is wrong).
 * @param {string} v
 */
function num(v) {
  return /^\d+$/.test(v.trim()) ? Number(v.trim()) : v;
}

async function load() {
  const [bots, inboxes] = await Promise.all([api("/api/v1/bots"), api("/api/v1/admin/inboxes")]);
  state.bots = bots.bots;
  state.queues = inboxes.queues;
  if (state.bot !== null) {
    state.log = (await api(`/api/v1/bots/${state.bot}/deliveries?limit=50`)).deliveries;
  }
}

const when = dateTime;

/** @param {Bot} bot */
function detail(bot) {
  const settings = form("bot-settings", [
    input("name", "Name", bot.name),
    input("webhook_url", "Webhook URL (empty: socket / REST only)", bot.webhook_url || "", "url"),
    input("handoff_after_s", "Hand off when the bot has not replied after (s; 0 = never)", bot.handoff_after_s, "number"),
  ], "Save bot", async (v) => {
    await api(`/api/v1/bots/${bot.id}`, { method: "PATCH", body: {
      name: v.name, webhook_url: v.webhook_url.trim() || null, handoff_after_s: num(v.handoff_after_s),
    } });
    flash(`${v.name} saved.`);
    await refresh();
  });
  const queue = form("bot-queue", [
    h("label", {}, "Queue", h("select", { name: "queue", "data-testid": "bot-field-queue" },
      ...state.queues.map((q) => h("option", { value: q, text: q })))),
  ], "Put in front of this queue", async (v) => {
    await api(`/api/v1/queues/${encodeURIComponent(v.queue)}/bot`, { method: "POST", body: { bot_id: bot.id } });
    flash(`${bot.name} now answers ${v.queue} first.`);
    await refresh();
  });
  const rotate = form("bot-rotate", [
    h("label", {}, "Old one keeps working for", h("select", { name: "grace_s", "data-testid": "bot-field-grace" },
      h("option", { value: "0", text: "no time (stops now)" }), h("option", { value: "300", text: "5 minutes" }),
      h("option", { value: "3600", text: "1 hour" }))),
    h("label", {}, "Rotate", h("select", { name: "what", "data-testid": "bot-field-what" },
      h("option", { value: "token", text: "bot token" }), h("option", { value: "webhook-secret", text: "webhook signing secret" }))),
  ], "Rotate", async (v) => {
    const out = await api(`/api/v1/bots/${bot.id}/${v.what}`, { method: "POST", body: { grace_s: Number(v.grace_s) } });
    state.shown = v.what === "token" ? { token: out.token } : { webhook_secret: out.webhook_secret };
    await refresh();
    flash(v.what === "token" ? "New token made." : "New signing secret made.");
  });
  const toggle = h("button", {
    type: "button", class: bot.active ? "btn" : "btn btn-primary", "data-testid": "bot-toggle",
    text: bot.active ? "Disable bot" : "Enable bot",
    onclick: async () => {
      try {
        const out = await api(`/api/v1/bots/${bot.id}/${bot.active ? "disable" : "enable"}`, { method: "POST", body: {} });
        flash(bot.active ? `${bot.name} disabled; ${out.handed_off} conversation(s) handed to agents.` : `${bot.name} enabled for new conversations.`);
        await refresh();
      } catch (e) { flash(/** @type {HttpError} */ (e).message); }
    },
  });
  const log = h("table", { class: "admin-table", "data-testid": "bot-deliveries" },
    h("thead", {}, h("tr", {}, ...["When", "Event", "Conversation", "Status", "Attempts", "HTTP", "Last error"].map((t) => h("th", { text: t })))),
    h("tbody", {}, ...state.log.map((d) => h("tr", { "data-status": d.status },
      h("td", { text: when(d.created_at) }), h("td", { text: d.event_type }), h("td", { text: String(d.conversation_id) }),
      h("td", { text: d.status }), h("td", { text: String(d.attempts) }), h("td", { text: d.http_status ?? "" }),
      h("td", { text: d.last_error }))),
    ));
  return h("div", { class: "bot-detail", "data-testid": "bot-detail" },
    h("h2", { text: `${bot.name}` }), secrets(state.shown), h("div", { class: "actions" }, toggle), settings, queue, rotate,
    h("h3", { text: "Webhook deliveries (latest 50)" }),
    state.log.length ? log : h("p", { class: "muted", text: bot.webhook_url ? "Nothing delivered yet." : "No webhook URL: nothing is posted." }));
}

function render() {
  const root = /** @type {HTMLElement} */ (document.getElementById("bots")); // admin.html
  const table = h("table", { class: "admin-table", "data-testid": "bot-table" },
    h("thead", {}, h("tr", {}, ...["Bot", "Status", "Queues", "Webhook", "Hands off after"].map((t) => h("th", { text: t })))),
    h("tbody", {}, ...state.bots.map((b) => h("tr", {
      "data-bot": String(b.id), "aria-selected": String(state.bot === b.id), tabindex: "0",
      onclick: () => select(b.id), onkeydown: (/** @type {KeyboardEvent} */ e) => { if (e.key === "Enter") select(b.id); },
    }, h("td", { text: b.name }), h("td", { text: b.active ? "active" : "disabled" }),
    h("td", { text: b.queues.join(", ") || "—" }), h("td", { text: b.webhook_url || "—" }),
    h("td", { text: b.handoff_after_s ? `${b.handoff_after_s} s` : "never" })))));
  const create = form("new-bot", [
    input("name", "Name"),
    input("webhook_url", "Webhook URL (optional)", "", "url"),
    input("handoff_after_s", "Hand off after (s; 0 = never)", "120", "number"),
  ], "Create bot", async (v) => {
    const out = await api("/api/v1/bots", { method: "POST", body: {
      name: v.name, webhook_url: v.webhook_url.trim() || null, handoff_after_s: num(v.handoff_after_s),
    } });
    state.bot = out.bot.id;
    state.shown = { token: out.token, webhook_secret: out.webhook_secret };
    flash(`${out.bot.name} created.`);
    await refresh();
  });
  const selected = state.bots.find((b) => b.id === state.bot);
  root.replaceChildren(h("h2", { text: "Bots" }), table, ...(selected ? [detail(selected)] : []),
    h("h2", { text: "New bot" }), create);
  root.dataset.ready = "true";
}

/** @param {number} id */
async function select(id) {
  state.bot = id;
  state.shown = null;
  await refresh();
}

async function refresh() {
  try {
    await load();
  } catch (e) {
    flash(`Could not load the bots: ${/** @type {HttpError} */ (e).message}`);
    return;
  }
  render();
}

// The Bots tab: shown by admin.js's tab switch; loaded when first opened.
for (const b of document.querySelectorAll(".admin-tabs [data-tab='bots']")) {
  b.addEventListener("click", () => refresh());
}
