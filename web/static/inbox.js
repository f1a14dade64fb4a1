// @ts-check
// omnihub agent inbox: conversation list, thread + reply box, customer context.
//
// Data flow (docs/frontend.md): REST snapshots (each with `last_event_id`) + the `/ws/agent`
// event stream resumed from that id. Every event goes through InboxStore (idempotent upserts),
// then the UI re-renders on the next animation frame.

import { HubSocket } from "./lib/socket.js";
import { emailBody, subjectLine } from "./inbox-email.js";
import { messageMedia } from "./inbox-media.js";
import { InboxStore } from "./inbox-store.js";
import { fetchJson } from "./lib/http.js";
import { minStreamId, uuid } from "./lib/stream-id.js";
import { ContactPanel } from "./contact-panel.js";
import { RoutingPanel } from "./inbox-offers.js";
import { ReplyBar } from "./inbox-reply.js";
import { Attachments } from "./inbox-attach.js";
import { installTemplatePicker } from "./inbox-templates.js";
import { avatar, channelIcon, displayName, icon, renderContext, statusPill } from "./inbox-view.js";
import { CHANNEL_LABEL } from "./lib/channels.js";
import { el } from "./lib/dom.js";
import { clock, dayLabel, relTime, textSize as textSizeOf } from "./lib/format.js";

/** @typedef {import("./lib/types.js").Conversation} Conversation */
/** @typedef {import("./lib/types.js").Message} Message */
/** @typedef {import("./lib/types.js").HubEvent} HubEvent */
/** @typedef {import("./lib/types.js").StreamId} StreamId */
/** @typedef {import("./lib/http.js").HttpError} HttpError */
/** @typedef {import("./inbox-store.js").PendingReply} PendingReply */
/** A reply on its way, with what only this page keeps: the ack timer and the REST attempt. */
/** @typedef {PendingReply & {timer?: number, posting?: boolean, via?: string, attachments?: number[]}} OutgoingReply */

const REPLY_ACK_TIMEOUT_MS = 8000;
const TYPING_IDLE_MS = 3000;
const TYPING_REFRESH_MS = 3000;
// The composer's length rule comes from the server (hello.limits): characters as the server
// counts them (code points), and the socket's frame size. 0 = not known yet (no hello).
const limits = { text: 0, frameBytes: 0 };
const COUNTER_FROM = 0.8; // show the counter from 80 % of the limit

const store = new InboxStore();
/**
 * An element of inbox.html (always there: the page's own markup).
 * @param {string} sel
 */
const $ = (sel) => /** @type {HTMLElement} */ (document.querySelector(sel));
/** @param {unknown} e a refusal (fetchJson) */
const reason = (e) => /** @type {HttpError} */ (e).message;
const dom = {
  conn: $("#conn"),
  connLabel: $("#conn .label"),
  meName: $("#me-name"),
  meAvatar: $("#me-avatar"),
  queueInfo: $("#queue-info"),
  statusFilter: /** @type {HTMLSelectElement} */ ($("#status-filter")),
  tabs: /** @type {HTMLElement[]} */ (Array.from(document.querySelectorAll(".tabs [data-assignee]"))),
  layout: $("#layout"),
  list: $("#conv-list"),
  listEmpty: $("#conv-empty"),
  threadEmpty: $("#thread-empty"),
  threadMain: $("#thread-main"),
  threadHead: $("#thread-head"),
  messages: $("#messages"),
  typing: $("#typing"),
  composer: $("#composer"),
  input: /** @type {HTMLTextAreaElement} */ ($("#reply-input")),
  send: /** @type {HTMLButtonElement} */ ($("#reply-send")),
  count: $("#reply-count"),
  noteToggle: $("#note-toggle"),
  replyTab: $("#reply-tab"),
  context: $("#context"),
  toasts: $("#toasts"),
};

/** @type {HubSocket | null} */
let socket = null;
let privateMode = false;
let ctxState = { loading: false, error: "" };
let loadingList = false;
const routing = new RoutingPanel({
  onOpenConversation: (id) => selectConversation(id),
  toast: (t, tone) => toast(t, tone),
});
const contactPanel = new ContactPanel({
  onOpenConversation: (id) => selectConversation(id),
  onChange: () => scheduleRender(),
  onContactChanged: () => reloadAll().catch((e) => toast(`Reload failed: ${reason(e)}`)),
  getMe: () => store.me,
  toast: (t, tone) => toast(t, tone),
});

// The reply channel and messaging window of the open conversation (inbox-reply.js).
const replyBar = new ReplyBar({
  host: $("#reply-bar"),
  api: (path, opts) => api(path, opts),
  getCurrentId: () => store.currentId,
  onChange: () => applyComposerState(),
});
// Files on email replies and private notes (inbox-attach.js).
const attach = new Attachments($("#composer .composer-foot"), () => store.currentId);
const currentChannel = () => (store.currentId ? (store.conversations.get(store.currentId) || {}).channel : null);
installTemplatePicker(replyBar, {
  onMessage: (m) => {
    store.upsertRestMessage(m);
    scheduleRender(true);
  },
});

// ---------------------------------------------------------------------------- utilities

/**
 * REST for the inbox: the server's reason as the error (with .status), /login on 401.
 * @param {string} path
 * @param {{method?: string, body?: unknown}} [opts]
 */
function api(path, { method = "GET", body } = {}) {
  return fetchJson(path, { method, body, headers: { Accept: "application/json" }, loginOn401: true });
}

/**
 * @param {string} text
 * @param {string} [tone] "error", "ok", "info"
 */
function toast(text, tone = "error") {
  const t = el("div", { class: `toast toast-${tone}`, role: tone === "error" ? "alert" : "status", text });
  dom.toasts.append(t);
  setTimeout(() => t.classList.add("out"), 4500);
  setTimeout(() => t.remove(), 5000);
}

let renderQueued = false;
let renderBottom = false;
/** @param {boolean} [forceBottom] scroll the thread to the newest message */
function scheduleRender(forceBottom = false) {
  renderBottom = renderBottom || forceBottom;
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    const bottom = renderBottom;
    renderBottom = false;
    render(bottom);
  });
}

// ---------------------------------------------------------------------------- loading

/** @returns {Promise<StreamId>} the oldest of the snapshots' last_event_id */
async function loadLists() {
  loadingList = true;
  scheduleRender();
  const status = store.filter.status === "all" ? "" : `&status=${encodeURIComponent(store.filter.status)}`;
  try {
    const snaps = await Promise.all(
      ["me", "unassigned", "all"].map((a) => api(`/api/v1/conversations?assignee=${a}${status}`)),
    );
    store.loadLists(snaps);
    return snaps.reduce((/** @type {StreamId} */ acc, s) => minStreamId(acc, s.last_event_id), null);
  } finally {
    loadingList = false;
    scheduleRender();
  }
}

async function loadCurrent() {
  const id = store.currentId;
  if (!id) return;
  try {
    const detail = await api(`/api/v1/conversations/${id}`);
    if (store.currentId !== id) return;
    store.loadConversation(detail);
    scheduleRender(true);
    loadContext(detail.conversation.contact_id);
  } catch (caught) {
    const e = /** @type {HttpError} */ (caught);
    if (store.currentId === id) {
      toast(e.status === 404 ? "That conversation does not exist." : `Could not load the conversation: ${e.message}`);
      if (e.status === 404 || e.status === 403) selectConversation(null);
    }
  }
}

/** @param {number} contactId */
async function loadContext(contactId) {
  const id = store.currentId;
  ctxState = { loading: !store.context, error: "" };
  scheduleRender();
  try {
    const ctx = await api(`/api/v1/contacts/${contactId}/context`);
    if (store.currentId !== id) return;
    store.context = ctx;
    ctxState = { loading: false, error: "" };
  } catch (e) {
    if (store.currentId === id) ctxState = { loading: false, error: `Customer details unavailable (${reason(e)}).` };
  }
  scheduleRender();
}

/** Fetch conversations we got events for but do not know yet (e.g. newly assigned to me). */
/** @type {Set<number>} */
const fetching = new Set();
function fetchMissing() {
  for (const id of store.missing) {
    if (fetching.has(id)) continue;
    fetching.add(id);
    api(`/api/v1/conversations/${id}`)
      .then((d) => {
        store.upsertConversation(d.conversation, d.last_event_id, d.messages);
        store.replayAfter(d.last_event_id);
        scheduleRender();
      })
      .catch(() => store.missing.delete(id))
      .finally(() => fetching.delete(id));
  }
}

/** Refetch everything from REST (boot, `reload` frame, filter change). */
/** An admin changed our inboxes or role while the socket was open: the socket already
 * follows the new access; pick up the new role for the board and offers. */
async function refreshMe() {
  try {
    const { agent } = await api("/api/v1/me");
    store.me = agent;
    renderMe();
    await routing.start(agent);
    scheduleRender();
  } catch (_) {
    /* api() redirects to /login on 401 */
  }
}

async function reloadAll() {
  const last = await loadLists();
  await loadCurrent();
  return last;
}

// ---------------------------------------------------------------------------- selection

/**
 * @param {number | null} id
 * @param {{push?: boolean}} [opts] push: put it in the URL
 */
function selectConversation(id, { push = true } = {}) {
  stopTyping();
  store.select(id);
  ctxState = { loading: !!id, error: "" };
  if (push) {
    const hash = id ? `#/conversations/${id}` : "";
    if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname + location.search);
  }
  // replaceState fires no hashchange: tell the side panels (call/callback panel).
  window.dispatchEvent(new CustomEvent("omnihub:navigate", { detail: { conversationId: id } }));
  dom.input.value = "";
  render(true);
  replyBar.load(id);
  if (id) {
    loadCurrent();
    setTimeout(() => dom.input.focus(), 0);
  }
}

function idFromHash() {
  const m = /^#\/conversations\/(\d+)$/.exec(location.hash);
  return m ? Number(m[1]) : null;
}

// ---------------------------------------------------------------------------- actions

/**
 * @param {string} path under the conversation ("assign", "status")
 * @param {object} body
 * @param {string} [okText] the toast when it worked
 */
async function conversationAction(path, body, okText) {
  const id = store.currentId;
  try {
    const res = await api(`/api/v1/conversations/${id}/${path}`, { method: "POST", body });
    if (res && res.conversation) store.upsertConversation(res.conversation, null);
    if (okText) toast(okText, "ok");
  } catch (e) {
    toast(`${reason(e)}`);
  }
  scheduleRender();
}

function sendReply() {
  const id = store.currentId;
  const text = dom.input.value.trim();
  if (!id || !text) return;
  if (!privateMode && replyBar.blocked) {
    toast(replyBar.blocked);
    return;
  }
  const size = textSize(text);
  if (size.reason) {
    toast(size.reason);
    return;
  }
  if (attach.busy) {
    toast("Wait until the files are uploaded.");
    return;
  }
  /** @type {{client_id: string, conversation_id: number, text: string, private: boolean, created_at: string,
   *   via?: string, attachments?: number[]}} */
  const p = { client_id: uuid(), conversation_id: id, text, private: privateMode, created_at: new Date().toISOString() };
  if (!privateMode && replyBar.via) p.via = replyBar.via;
  const files = attach.take();
  if (files.length) p.attachments = files; // REST only: socket frames carry no files
  store.addPending(p);
  dom.input.value = "";
  autosize();
  stopTyping();
  // The stored entry (addPending copies p): the one an ack or error frame finds, so its
  // timer is the one they clear and its `posting` flag the one a resend sees.
  deliver(/** @type {OutgoingReply} */ (store.pending.get(p.client_id)));
  render(true);
}

/**
 * Send a pending reply over the socket; fall back to REST (same client_id) if no ack.
 * @param {OutgoingReply} p
 */
function deliver(p) {
  /** @type {{type: string, conversation_id: number, client_id: string, text: string, private?: boolean, via?: string}} */
  const frame = { type: "reply", conversation_id: p.conversation_id, client_id: p.client_id, text: p.text, private: p.private };
  if (p.via) frame.via = p.via;
  if (!p.attachments && socket && socket.send(frame)) {
    clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      const cur = store.pending.get(p.client_id);
      if (cur && cur.state === "pending") postReply(cur);
    }, REPLY_ACK_TIMEOUT_MS);
  } else {
    postReply(p);
  }
}

/** @param {OutgoingReply} p */
async function postReply(p) {
  if (p.posting) return;
  p.posting = true;
  try {
    const res = await api(`/api/v1/conversations/${p.conversation_id}/messages`, {
      method: "POST", body: { text: p.text, client_id: p.client_id, private: p.private, ...(p.via ? { via: p.via } : {}), ...(p.attachments ? { attachments: p.attachments } : {}) },
    });
    if (res && res.message) store.upsertRestMessage(res.message);
    store.ack(p.client_id, res && res.message && res.message.id);
  } catch (caught) {
    const e = /** @type {HttpError} */ (caught);
    if (e.status && e.status < 500) store.fail(p.client_id, e.message);
    else if (store.pending.has(p.client_id)) p.state = "pending"; // resent on reconnect
  } finally {
    p.posting = false;
    scheduleRender();
  }
}

/** @param {string} clientId */
function retryPending(clientId) {
  const p = store.pending.get(clientId);
  if (!p) return;
  p.state = "pending";
  p.error = "";
  deliver(p);
  scheduleRender();
}

// typing frames (agent -> customer), throttled; never for private notes
let typingOn = false;
/** @type {number | null} */
let typingConv = null;
let typingSentAt = 0;
let typingTimer = 0;

function noteTyping() {
  if (privateMode || !store.currentId || !dom.input.value.trim()) {
    stopTyping();
    return;
  }
  const now = Date.now();
  if (!typingOn || typingConv !== store.currentId || now - typingSentAt > TYPING_REFRESH_MS) {
    if (typingOn && typingConv !== store.currentId) stopTyping();
    if (socket && socket.send({ type: "typing", conversation_id: store.currentId, on: true })) {
      typingOn = true;
      typingConv = store.currentId;
      typingSentAt = now;
    }
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(typingTimer);
  if (typingOn && socket) socket.send({ type: "typing", conversation_id: typingConv, on: false });
  typingOn = false;
  typingConv = null;
}

// ---------------------------------------------------------------------------- socket

/** @param {StreamId} lastId where the REST snapshot ends: the stream resumes there */
function startSocket(lastId) {
  socket = new HubSocket("/ws/agent", {
    onStatus: renderConn,
    onHello: async (hello, resumed) => {
      if (hello.agent) {
        store.me = hello.agent;
        renderMe();
      }
      if (hello.limits) {
        limits.text = hello.limits.text || 0;
        limits.frameBytes = hello.limits.frame_bytes || 0;
        autosize();
      }
      // Resend replies that never got an ack (the server dedupes on client_id).
      for (const p of store.pending.values()) if (p.state === "pending") deliver(p);
      if (!resumed) await reloadAll(); // no position: the REST snapshot is our state
      if (hello.agent) routing.start(hello.agent); // offers, presence, queue board
      scheduleRender();
    },
    onEvent: (id, event) => {
      if (!event) return;
      // Feature modules (inbox-voice.js) listen to every event without touching this file.
      window.dispatchEvent(new CustomEvent("omnihub:event", { detail: event }));
      store.receive(id, event);
      contactPanel.onEvent(event);
      routing.onEvent(event);
      if (store.missing.size) fetchMissing();
      if (event.type === "typing") setTimeout(scheduleRender, 7100); // expire indicator
      scheduleRender();
    },
    onFrame: (f) => {
      if (f.type === "ack") {
        const p = store.pending.get(f.client_id);
        if (p) clearTimeout(p.timer);
        store.ack(f.client_id, f.message_id);
        scheduleRender();
      } else if (f.type === "error") {
        const p = f.client_id ? store.pending.get(f.client_id) : undefined;
        if (p) {
          clearTimeout(/** @type {OutgoingReply} */ (p).timer);
          if (f.code === "overloaded") postReply(p);
          else store.fail(f.client_id, f.reason || f.code);
          scheduleRender();
        } else {
          console.warn("[omnihub] server error frame", f);
        }
      } else if (f.type === "reload") {
        // Events buffered before the reload predate the REST snapshot we are about to take.
        store.buffer.length = 0;
        reloadAll().catch((e) => toast(`Reload failed: ${reason(e)}`));
        if (f.reason === "access_changed") refreshMe();
      }
    },
    onRefused: () => {
      // 1008: the session is gone (or the origin is wrong). No immediate retry (undefined).
      api("/api/v1/me").then(
        () => toast("The realtime connection was refused (check the hub's public URL / origin)."),
        () => { /* api() already redirected to /login on 401 */ });
    },
  });
  socket.lastId = lastId || null;
  socket.connect();
  socket.followBrowser();
}

// ---------------------------------------------------------------------------- rendering

/** @param {import("./lib/socket.js").SocketStatus} status */
function renderConn(status) {
  /** @type {Record<string, string>} */
  const labels = { idle: "Starting…", connecting: "Connecting…", online: "Live", offline: "Reconnecting…", refused: "Disconnected" };
  dom.conn.dataset.state = status;
  dom.connLabel.textContent = labels[status] || status;
  dom.conn.title = status === "offline" && socket ? `Retrying in ${Math.max(0, Math.round((socket.nextRetryAt - Date.now()) / 1000))} s` : "";
}

function renderMe() {
  if (!store.me) return;
  dom.meName.textContent = store.me.name;
  dom.meName.title = `${store.me.email} · ${store.me.role}`;
  $("#admin-link").hidden = store.me.role !== "admin";
  dom.meAvatar.replaceChildren(avatar(store.me.name, "sm"));
}

/** @param {boolean} [forceBottom] */
function render(forceBottom = false) {
  // Narrow screens show the list or the thread (inbox.css); wide ones ignore it.
  dom.layout.dataset.view = store.currentId ? "thread" : "list";
  renderTabs();
  renderList();
  renderThread(forceBottom);
  renderQueues();
  const n = store.totalUnread();
  document.title = `${n ? `(${n}) ` : ""}Inbox · omnihub`;
}

function renderTabs() {
  for (const t of dom.tabs) {
    const a = /** @type {"mine" | "unassigned" | "all"} */ (t.dataset.assignee); // inbox.html's tabs
    const active = store.filter.assignee === a;
    t.setAttribute("aria-selected", String(active));
    t.tabIndex = active ? 0 : -1;
    /** @type {HTMLElement} */ (t.querySelector(".count")).textContent = String(store.count(a));
  }
}

function renderList() {
  const convs = store.list();
  const items = convs.map((c) => {
    const unread = store.unreadCount(c.id);
    const lm = c.last_message;
    const preview = lm ? previewText(lm) : c.subject || "No messages yet";
    const typing = store.typingFor(c.id);
    const li = el("li", {
      class: `conv${c.id === store.currentId ? " active" : ""}${unread ? " unread" : ""}`,
      "data-testid": "conv-item", "data-conversation-id": c.id, role: "option",
      "aria-selected": String(c.id === store.currentId), tabindex: "0",
      onclick: () => selectConversation(c.id),
      onkeydown: (/** @type {KeyboardEvent} */ e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          selectConversation(c.id);
        }
      },
    },
    avatar(convName(c)),
    el("div", { class: "conv-body" },
      el("div", { class: "conv-top" },
        el("span", { class: "conv-name", text: convName(c) }),
        el("time", { class: "conv-time", datetime: c.last_message_at || c.created_at, text: relTime(c.last_message_at || c.created_at) })),
      el("div", { class: "conv-bottom" },
        channelIcon(c.channel),
        typing
          ? el("span", { class: "conv-preview typing-text", text: "typing…" })
          : el("span", { class: "conv-preview", "data-testid": "conv-preview", dir: "auto", text: preview }),
        unread ? el("span", { class: "unread-badge", "data-testid": "unread-badge", "aria-label": `${unread} unread`, text: unread > 99 ? "99+" : String(unread) }) : null)));
    return li;
  });
  dom.list.replaceChildren(...items);
  dom.listEmpty.hidden = items.length > 0;
  dom.listEmpty.textContent = loadingList ? "Loading…" : emptyListText();
}

/** @param {Conversation} c */
function convName(c) {
  return displayName(c.contact_name, c.contact_identity) || `Conversation #${c.id}`;
}

/** @param {Message} lm the last message */
function previewText(lm) {
  // Private notes never reach the list row (REST and inbox-store.js leave it alone).
  let prefix = "";
  if (lm.direction === "out" && lm.author) {
    const mine = lm.author && store.me && lm.author.agent_id === store.me.id;
    prefix = mine ? "You: " : `${(lm.author && lm.author.name) || "Agent"}: `;
  }
  return prefix + (lm.text || "");
}

function emptyListText() {
  const a = store.filter.assignee;
  if (a === "mine") return "Nothing assigned to you. Pick one from Unassigned.";
  if (a === "unassigned") return "No unassigned conversations. Nice work!";
  return "No conversations yet.";
}

/** @param {boolean} forceBottom */
function renderThread(forceBottom) {
  const conv = store.currentId ? store.conversations.get(store.currentId) : null;
  dom.threadEmpty.hidden = !!store.currentId;
  dom.threadMain.hidden = !store.currentId;
  if (!store.currentId) {
    renderContext(dom.context, null, { error: "Select a conversation to see the customer." });
    return;
  }
  renderThreadHead(conv);
  attach.update(conv && conv.channel, privateMode);
  renderMessages(forceBottom, conv);
  const t = store.typingFor(store.currentId);
  dom.typing.replaceChildren();
  if (t) {
    dom.typing.append(el("span", { class: "dots", "aria-hidden": "true" }, el("i"), el("i"), el("i")),
      el("span", { text: `${t.kind === "contact" && conv ? convName(conv) : t.name} is typing…` }));
  }
  renderContext(dom.context, store.context, {
    currentId: store.currentId, loading: ctxState.loading, error: ctxState.error,
    onOpenConversation: (id) => selectConversation(id),
  });
  if (!ctxState.error && !ctxState.loading) contactPanel.render(dom.context, store.context);
}

/** Shown only on narrow screens (inbox.css), where the thread replaces the list. */
function backButton() {
  return el("button", {
    type: "button", class: "btn btn-ghost back-btn", "data-testid": "back-to-list", "aria-label": "Back to conversations",
    onclick: () => selectConversation(null),
  }, "←");
}

/** @param {Conversation | null | undefined} conv undefined while it loads */
function renderThreadHead(conv) {
  const me = store.me;
  const head = dom.threadHead;
  head.replaceChildren();
  if (!conv) {
    head.append(backButton(), el("div", { class: "muted", text: "Loading…" }));
    return;
  }
  const mine = me && conv.assignee_id === me.id;
  const assignText = conv.assignee_id == null ? "Unassigned" : mine ? "Assigned to you"
    : `Assigned to ${conv.assignee_name || "another agent"}`;
  head.append(
    backButton(),
    avatar(convName(conv)),
    el("div", { class: "thread-title" },
      el("h2", { "data-testid": "thread-title", text: convName(conv) }),
      subjectLine(conv),
      el("div", { class: "thread-sub" },
        channelIcon(conv.channel), el("span", { text: `${CHANNEL_LABEL[conv.channel] || conv.channel} · ${conv.inbox} · #${conv.id}` }),
        el("span", { class: "sep", text: "·" }),
        el("span", { "data-testid": "assignee", text: assignText }),
        el("span", { class: "sep", text: "·" }),
        el("span", { "data-testid": "conv-status" }, statusPill(conv.status)))),
    el("div", { class: "thread-actions" },
      mine ? null : el("button", {
        type: "button", class: "btn", "data-testid": "assign-me",
        onclick: () => conversationAction("assign", {}, "Assigned to you"),
      }, icon("user", 15), "Assign to me"),
      conv.status === "resolved"
        ? el("button", { type: "button", class: "btn", "data-testid": "reopen", onclick: () => conversationAction("status", { status: "open" }) }, icon("undo", 15), "Reopen")
        : el("button", { type: "button", class: "btn btn-success", "data-testid": "resolve", onclick: () => conversationAction("status", { status: "resolved" }, "Conversation resolved") }, icon("check", 15), "Resolve")),
  );
}

/**
 * @param {boolean} forceBottom
 * @param {Conversation | null | undefined} conv
 */
function renderMessages(forceBottom, conv) {
  const box = dom.messages;
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  /** @type {HTMLElement[]} */
  const rows = [];
  let lastDay = "";
  const addDay = (/** @type {string | undefined} */ iso) => {
    const d = dayLabel(iso);
    if (d && d !== lastDay) {
      rows.push(el("div", { class: "day", role: "separator" }, el("span", { text: d })));
      lastDay = d;
    }
  };
  for (const m of store.currentMessages()) {
    addDay(m.created_at);
    rows.push(messageBubble(m, conv));
  }
  for (const p of store.currentPending()) {
    addDay(p.created_at);
    rows.push(pendingBubble(p));
  }
  if (!rows.length) rows.push(el("div", { class: "muted center pad", text: "No messages yet." }));
  box.replaceChildren(...rows);
  if (forceBottom || nearBottom) box.scrollTop = box.scrollHeight;
}

/**
 * @param {Message} m
 * @param {Conversation | null | undefined} conv
 */
function messageBubble(m, conv) {
  const kind = (m.author && m.author.kind) || (m.direction === "in" ? "contact" : "agent");
  if (kind === "system" && m.direction === "out" && m.channel === "email") {
    // An automatic acknowledgement: what the customer got (or why they got nothing).
    const state = m.status + (m.status_error ? ` — ${m.status_error}` : "");
    return el("div", { class: `msg system auto-reply${m.status === "failed" ? " failed" : ""}`, "data-testid": "message", "data-message-id": m.id, "data-status": m.status || "" },
      el("div", { class: "msg-who", text: (m.author && m.author.name) || "Automatic reply" }),
      el("div", { class: "auto-reply-text", dir: "auto", text: m.text }),
      el("div", { class: "msg-meta", text: `${clock(m.created_at)} · ${state}` }));
  }
  if (kind === "system") {
    return el("div", { class: "msg system", "data-testid": "message", "data-message-id": m.id }, el("span", { dir: "auto", text: m.text }));
  }
  const authorName = (m.author && m.author.name) || "";
  const who = m.direction === "in"
    ? (authorName && (!conv || displayName(authorName, conv.contact_identity) === authorName) ? authorName : conv ? convName(conv) : "Customer")
    : (m.author && m.author.name) || (kind === "bot" ? "Bot" : "Agent");
  const cls = `msg ${m.direction === "in" ? "in" : "out"}${m.private ? " note" : ""}${m.status === "failed" ? " failed" : ""}`;
  const meta = [clock(m.created_at)];
  if (m.direction === "out" && !m.private && m.status && m.status !== "received") meta.push(m.status);
  return el("div", {
    class: cls, "data-testid": "message", "data-message-id": m.id, "data-direction": m.direction,
    "data-private": m.private ? "true" : "false", "data-status": m.status || "",
  },
  m.direction === "in" ? avatar(who, "sm") : null,
  el("div", { class: "msg-col" },
    el("div", { class: "msg-who" }, m.private ? icon("lock", 12) : null, el("span", { text: m.private ? `${who} · private note` : who })),
    emailBody(m) || el("div", { class: "bubble", dir: "auto", text: m.text || "" }),
    messageMedia(m),
    el("div", { class: "msg-meta", title: m.status_error || "", text: meta.join(" · ") + ((m.status === "failed" || m.status === "queued") && m.status_error ? ` — ${m.status_error}` : "") })),
  m.direction === "out" ? avatar(who, "sm") : null);
}

/** @param {PendingReply} p */
function pendingBubble(p) {
  const who = (store.me && store.me.name) || "You";
  const meta = el("div", { class: "msg-meta" });
  if (p.state === "failed") {
    meta.append(`Not sent: ${p.error} · `, el("button", { type: "button", class: "link", onclick: () => retryPending(p.client_id), text: "Retry" }));
  } else {
    meta.textContent = p.state === "acked" ? "Sent" : socket && socket.status === "online" ? "Sending…" : "Waiting for connection…";
  }
  return el("div", {
    class: `msg out pending${p.private ? " note" : ""}${p.state === "failed" ? " failed" : ""}`,
    "data-testid": "message", "data-client-id": p.client_id, "data-pending": p.state,
    "data-direction": "out", "data-private": p.private ? "true" : "false",
  },
  el("div", { class: "msg-col" },
    el("div", { class: "msg-who" }, p.private ? icon("lock", 12) : null, el("span", { text: p.private ? `${who} · private note` : who })),
    el("div", { class: "bubble", dir: "auto", text: p.text }),
    meta),
  avatar(who, "sm"));
}

function renderQueues() {
  const parts = [];
  for (const [q, s] of store.queues) {
    if (s.depth > 0) parts.push(`${q}: ${s.depth} waiting${s.oldest_wait_s >= 60 ? ` (${Math.round(s.oldest_wait_s / 60)}m)` : ""}`);
  }
  dom.queueInfo.textContent = parts.join(" · ");
  dom.queueInfo.hidden = !parts.length;
}

/** @param {boolean} on */
function setPrivateMode(on) {
  privateMode = on;
  if (on) stopTyping();
  dom.composer.classList.toggle("private", on);
  dom.noteToggle.setAttribute("aria-pressed", String(on));
  dom.replyTab.setAttribute("aria-pressed", String(!on));
  dom.input.placeholder = on ? "Private note — only agents see this" : "Reply to the customer… (Enter to send, Shift+Enter for a new line)";
  dom.send.textContent = on ? "Add note" : "Send";
  replyBar.setPrivate(on);
  attach.update(currentChannel(), on);
}

/** Free text is off while the reply channel's messaging window is closed (not for notes). */
function applyComposerState() {
  const reason = privateMode ? "" : replyBar.blocked;
  dom.input.disabled = !!reason;
  dom.composer.classList.toggle("blocked", !!reason);
  if (reason) dom.input.placeholder = reason;
  else if (!privateMode) dom.input.placeholder = "Reply to the customer… (Enter to send, Shift+Enter for a new line)";
  autosize();
}

/** Length of a reply against the server's limits: {count, near, reason} (reason = refused). */
/** The reply against hello.limits: code points and, as sent, the socket frame (and REST body). */
/** @param {string} text */
function textSize(text) {
  return textSizeOf(text, limits.text, { counterFrom: COUNTER_FROM, frameBytes: limits.frameBytes });
}

/** @param {{count: number, near: boolean, reason: string}} size */
function renderCounter(size) {
  dom.count.hidden = !size.near && !size.reason;
  dom.count.textContent = size.reason || `${size.count.toLocaleString("en")} / ${limits.text.toLocaleString("en")}`;
  dom.count.classList.toggle("over", !!size.reason);
  dom.send.title = size.reason;
}

function autosize() {
  dom.input.style.height = "auto";
  dom.input.style.height = `${Math.min(dom.input.scrollHeight + 2, 220)}px`;
  const size = textSize(dom.input.value.trim());
  renderCounter(size);
  dom.send.disabled = !dom.input.value.trim() || (!privateMode && !!replyBar.blocked) || !!size.reason;
}

// ---------------------------------------------------------------------------- wiring

function wire() {
  for (const t of dom.tabs) {
    t.addEventListener("click", () => {
      store.filter.assignee = /** @type {"mine" | "unassigned" | "all"} */ (t.dataset.assignee);
      localStorage.setItem("omnihub:inbox:tab", store.filter.assignee);
      render();
    });
  }
  /** @type {HTMLElement} */ (dom.tabs[0].parentElement).addEventListener("keydown", (e) => {
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    const i = dom.tabs.findIndex((t) => t.dataset.assignee === store.filter.assignee);
    const next = dom.tabs[(i + (e.key === "ArrowRight" ? 1 : dom.tabs.length - 1)) % dom.tabs.length];
    next.click();
    next.focus();
  });
  dom.statusFilter.addEventListener("change", () => {
    store.filter.status = dom.statusFilter.value;
    loadLists().catch((e) => toast(`Could not load conversations: ${reason(e)}`));
  });
  dom.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    sendReply();
  });
  dom.input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendReply();
    }
  });
  dom.input.addEventListener("input", () => {
    autosize();
    noteTyping();
  });
  dom.input.addEventListener("blur", stopTyping);
  dom.noteToggle.addEventListener("click", () => setPrivateMode(true));
  dom.replyTab.addEventListener("click", () => setPrivateMode(false));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && document.activeElement === dom.input && !dom.input.value) dom.input.blur();
  });
  window.addEventListener("hashchange", () => {
    const id = idFromHash();
    if (id !== store.currentId) selectConversation(id, { push: false });
  });
  setInterval(() => renderList(), 30000); // relative times
  setPrivateMode(false);
  autosize();
}

async function boot() {
  wire();
  const tab = localStorage.getItem("omnihub:inbox:tab");
  if (tab === "mine" || tab === "unassigned" || tab === "all") store.filter.assignee = tab;
  renderConn("connecting");
  try {
    const me = await api("/api/v1/me");
    store.me = me.agent || me;
    renderMe();
  } catch (e) {
    if (/** @type {HttpError} */ (e).status !== 401) toast(`Could not load your profile: ${reason(e)}`);
    return;
  }
  const initial = idFromHash();
  if (initial) store.select(initial);
  let last = null;
  try {
    last = await reloadAll();
  } catch (e) {
    toast(`Could not load conversations: ${reason(e)}`);
  }
  render(true);
  // Resume the event stream right after the snapshot: the gap since then is replayed.
  startSocket(last);
}

/** @type {any} */ (window).omnihubInbox = { store, get socket() { return socket; } }; // debugging / tests
boot();
