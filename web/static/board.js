// @ts-check
// The supervisor wallboard (/board): one snapshot (GET /api/v1/board) at load, on every
// (re)connect and whenever an event that moves a figure arrives on the agent socket
// (queue.stats, workitem.*, agent.presence, conversation.*); actions call the routing
// API's own routes. Metric definitions: docs/board.md.
import { el, keptSelect as keptSelectIn } from "./lib/dom.js";
import { duration } from "./lib/format.js";
import { fetchJson } from "./lib/http.js";
import { HubSocket } from "./lib/socket.js";

/**
 * @typedef {object} BoardQueue
 * @property {string} queue
 * @property {number} waiting
 * @property {number} oldest_wait_s
 * @property {number} offered
 * @property {number} in_progress
 * @property {number} handled_today
 * @property {number} abandoned_today
 * @property {Record<string, number>} backlog
 * @property {number} agents_online
 * @property {number} agents_available
 * @property {number[]} members
 */
/**
 * @typedef {object} BoardItem
 * @property {number} work_item_id
 * @property {string} queue
 * @property {string} channel
 * @property {number | null} agent_id
 * @property {number} held_s
 * @property {string} [contact_name]
 * @property {string} [subject]
 */
/**
 * @typedef {object} BoardAgent
 * @property {number} agent_id
 * @property {string} name
 * @property {string} presence
 * @property {number | null} in_state_s seconds in the current presence (null: unknown)
 * @property {string} status
 * @property {string[]} queues
 * @property {number} capacity
 * @property {number} units
 * @property {Record<string, {items: number, limit: number | null}>} load
 * @property {number} handled_today
 * @property {number | null} occupancy_today share of staffed time holding work (null: never staffed)
 * @property {BoardItem[]} [items]
 */
/**
 * @typedef {object} BoardSnapshot
 * @property {number} now
 * @property {boolean} supervisor
 * @property {BoardQueue[]} queues
 * @property {BoardAgent[]} agents
 * @property {string[]} [queue_names]
 */

// Events after which a figure of the board may have moved.
const MOVES = /^(queue\.stats|agent\.presence|workitem\.|conversation\.(created|assigned|status))/;
const BACKLOG_ORDER = ["lt_1h", "1h_4h", "4h_24h", "gt_24h"];
const STATUSES = ["available", "away", "busy", "offline"];

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const queueFilter = /** @type {HTMLSelectElement} */ ($("filter-queue"));

/** @type {BoardSnapshot | null} */
let snap = null;
let loadedAt = 0; // performance.now() when `snap` arrived: waits keep counting from it
let loading = false;
let again = false;
/** @type {Map<string, string>} what the supervisor picked in a select, kept across re-renders */
const picked = new Map();

/** @type {(key: string, attrs: Record<string, unknown>, options: {value: string, text: string}[], initial?: string) => HTMLSelectElement} */
const keptSelect = (key, attrs, options, initial) => keptSelectIn(picked, key, attrs, options, initial);

function flash(/** @type {string} */ text) {
  const f = $("flash");
  f.textContent = text;
  f.hidden = !text;
}

/** Fetch the snapshot; calls arriving meanwhile coalesce into one more fetch. */
async function refresh() {
  if (loading) { again = true; return; }
  loading = true;
  try {
    do {
      again = false;
      snap = /** @type {BoardSnapshot} */ (await fetchJson("/api/v1/board", { loginOn401: true }));
      loadedAt = performance.now();
      render();
    } while (again);
  } catch (e) {
    flash(`Could not load the board: ${/** @type {Error} */ (e).message}`);
  } finally {
    loading = false;
  }
}

function selectedQueue() { return queueFilter.value; }

function renderFilter() {
  if (!snap) return;
  const names = snap.queues.map((q) => q.queue);
  const have = [...queueFilter.options].slice(1).map((o) => o.value);
  if (names.join("\n") === have.join("\n")) return;
  const keep = queueFilter.value;
  queueFilter.replaceChildren(el("option", { value: "", text: "All queues" }),
    ...names.map((n) => el("option", { value: n, text: n })));
  queueFilter.value = names.includes(keep) ? keep : "";
}

function renderQueues() {
  if (!snap) return;
  const age = (performance.now() - loadedAt) / 1000;
  const only = selectedQueue();
  $("queues").replaceChildren(...snap.queues.filter((q) => !only || q.queue === only).map((q) =>
    el("tr", { "data-queue": q.queue, "data-testid": "queue-row" },
      el("th", { scope: "row", text: q.queue }),
      el("td", { "data-testid": "q-waiting", text: q.waiting }),
      el("td", { "data-testid": "q-longest", text: q.waiting ? duration(q.oldest_wait_s + age) : "–" }),
      el("td", { "data-testid": "q-offered", text: q.offered }),
      el("td", { "data-testid": "q-in-progress", text: q.in_progress }),
      el("td", { "data-testid": "q-handled", text: q.handled_today }),
      el("td", { "data-testid": "q-abandoned", text: q.abandoned_today }),
      el("td", { "data-testid": "q-backlog", title: "under 1 h / 1–4 h / 4–24 h / over 24 h",
        text: BACKLOG_ORDER.map((b) => q.backlog[b] || 0).join(" / ") }),
      el("td", { text: `${q.agents_online} (${q.agents_available} free)` }))));
}

/** @param {BoardAgent} a */
function loadText(a) {
  const parts = Object.entries(a.load).map(([ch, l]) => `${ch} ${l.items}${l.limit != null ? `/${l.limit}` : ""}`);
  return `${a.units}/${a.capacity} units${parts.length ? ` · ${parts.join(", ")}` : ""}`;
}

/**
 * @param {BoardItem} item
 * @param {BoardSnapshot} s
 */
function itemRow(item, s) {
  const who = keptSelect(`reassign:${item.work_item_id}`, { "data-testid": "reassign-agent", "aria-label": "Reassign to" },
    s.agents.filter((a) => a.agent_id !== item.agent_id).map((a) => ({ value: String(a.agent_id), text: `${a.name} (${a.presence})` })));
  const where = keptSelect(`transfer:${item.work_item_id}`, { "data-testid": "transfer-queue", "aria-label": "Transfer to queue" },
    (s.queue_names || []).filter((q) => q !== item.queue).map((q) => ({ value: q, text: q })));
  const act = (/** @type {string} */ what, /** @type {unknown} */ body) =>
    postAction(`/api/v1/work-items/${item.work_item_id}/${what}`, body);
  return el("li", { "data-item": item.work_item_id },
    el("span", { text: `${item.contact_name || `#${item.work_item_id}`} · ${item.channel} · ${item.queue} · ${duration(item.held_s)}` }),
    el("span", { class: "board-action" },
      who, el("button", { type: "button", class: "btn btn-ghost", "data-testid": "reassign", text: "Reassign",
        onclick: () => act("reassign", { agent_id: Number(who.value) }) }),
      where, el("button", { type: "button", class: "btn btn-ghost", "data-testid": "transfer", text: "Transfer",
        onclick: () => act("transfer", { queue: where.value }) })));
}

/**
 * POST an action, then reload the board (the events follow, but the actor sees it at once).
 * @param {string} path
 * @param {unknown} body
 */
async function postAction(path, body) {
  try {
    await fetchJson(path, { method: "POST", body, loginOn401: true });
    flash("");
  } catch (e) {
    flash(`Not done: ${/** @type {Error} */ (e).message}`);
  }
  refresh();
}

function renderAgents() {
  const s = snap;
  if (!s) return;
  const only = selectedQueue();
  const age = (performance.now() - loadedAt) / 1000;
  $("agents").replaceChildren(...s.agents.filter((a) => !only || a.queues.includes(only)).map((a) => {
    const items = (a.items || []).filter((i) => !only || i.queue === only);
    const status = keptSelect(`presence:${a.agent_id}`, { "data-testid": "set-presence", "aria-label": `Presence of ${a.name}` },
      STATUSES.map((st) => ({ value: st, text: st })), a.status);
    return el("tr", { "data-agent": a.agent_id, "data-testid": "agent-row" },
      el("th", { scope: "row", text: a.name }),
      el("td", { class: "board-presence", "data-presence": a.presence, "data-testid": "a-presence",
        text: a.in_state_s == null ? a.presence : `${a.presence} · ${duration(a.in_state_s + age)}` }),
      el("td", { "data-testid": "a-load", text: loadText(a) }),
      el("td", {}, el("ul", { class: "board-items", "data-testid": "a-items" }, ...items.map((i) => itemRow(i, s)))),
      el("td", { "data-testid": "a-handled", text: a.handled_today }),
      el("td", { "data-testid": "a-occupancy", text: a.occupancy_today == null ? "–" : `${Math.round(a.occupancy_today * 100)} %` }),
      el("td", { class: "board-chrome" }, s.supervisor ? [status, el("button", {
        type: "button", class: "btn btn-ghost", "data-testid": "set-presence-go", text: "Set",
        onclick: () => {
          picked.delete(`presence:${a.agent_id}`);
          postAction(`/api/v1/board/agents/${a.agent_id}/presence`, { status: status.value });
        } })] : null));
  }));
}

/** Re-count the presence durations without rebuilding the rows (selects stay open). */
function tickPresence() {
  if (!snap) return;
  const age = (performance.now() - loadedAt) / 1000;
  for (const a of snap.agents) {
    const cell = document.querySelector(`tr[data-agent="${a.agent_id}"] [data-testid="a-presence"]`);
    if (cell && a.in_state_s != null) cell.textContent = `${a.presence} · ${duration(a.in_state_s + age)}`;
  }
}

function render() {
  renderFilter();
  renderQueues();
  renderAgents();
}

function setTv(/** @type {boolean} */ on) {
  document.body.classList.toggle("board-tv", on);
  $("tv").setAttribute("aria-pressed", String(on));
  if (on && document.documentElement.requestFullscreen && !document.fullscreenElement) {
    document.documentElement.requestFullscreen().catch(() => { /* the browser said no: TV layout anyway */ });
  }
}

$("tv").addEventListener("click", () => setTv(true));
document.addEventListener("keydown", (e) => { if (e.key === "Escape") setTv(false); });
document.addEventListener("fullscreenchange", () => { if (!document.fullscreenElement) setTv(false); });
queueFilter.addEventListener("change", render);
if (new URLSearchParams(location.search).get("tv") === "1") setTv(true);

const socket = new HubSocket("/ws/agent", {
  onHello: () => { refresh(); }, // first connect and every reconnect: the figures may have moved
  onEvent: (_id, event) => { if (event && MOVES.test(String(event.type))) refresh(); },
  onStatus: (st) => { $("conn").textContent = st === "online" ? "live" : st; },
  onRefused: () => { location.href = "/login"; },
});
socket.connect();
refresh();
// Waits and time in state keep counting between snapshots (a re-render keeps open selects).
setInterval(() => { renderQueues(); tickPresence(); }, 1000);
setInterval(() => { if (snap && !snap.supervisor) refresh(); }, 5000);
