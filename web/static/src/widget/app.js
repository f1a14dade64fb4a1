// @ts-check
// The chat widget: state, application of the hub's frames, the composer, rendering, and
// the public API (window.OmnihubWidget). Bundled with the kernel into widget.js
// (docs/frontend.md "The build"). The socket (backoff, resume, ping watchdog) is the
// kernel's HubSocket; features with their own UI live beside this file (prechat.js,
// verify.js, callback.js), each built from the context `w`.

import { el } from "../../lib/dom.js";
import { clock as timeLabel, textSize as textSizeOf } from "../../lib/format.js";
import { HubSocket } from "../../lib/socket.js";
import { clientIdOf, uuid } from "../../lib/stream-id.js";
import { createCallback } from "./callback.js";
import { createPrechat } from "./prechat.js";
import {
  REMOTE_TYPING_TTL_MS, applyAck, applyEvent as applyEventTo, applyHello as applyHelloTo, persisted, restoreState,
  sortedMessages as sortedOf,
} from "./store.js";
import { ICON_CHAT, ICON_CLOSE, ICON_DOWN, ICON_SEND, widgetCss } from "./styles.js";
import { createVerify } from "./verify.js";

/** @typedef {import("../../lib/types.js").HubEvent} HubEvent */
/** @typedef {import("../../lib/types.js").ServerFrame} ServerFrame */
/** @typedef {import("../../lib/types.js").StreamId} StreamId */
/** @typedef {import("../../lib/types.js").WidgetHello} WidgetHello */
/** @typedef {import("../../lib/types.js").WidgetMessage} WidgetMessage */
/** @typedef {import("./store.js").OutboxEntry} OutboxEntry */
/** @typedef {import("./store.js").AckedEntry} AckedEntry */

/**
 * The widget's own elements (built by buildUI; empty until then).
 * @typedef {object} WidgetUI
 * @property {HTMLSpanElement} status
 * @property {HTMLHeadingElement} title
 * @property {HTMLParagraphElement} sub
 * @property {HTMLButtonElement} closeBtn
 * @property {HTMLDivElement} list
 * @property {HTMLDivElement} typing
 * @property {HTMLTextAreaElement} input
 * @property {HTMLDivElement} count
 * @property {HTMLButtonElement} sendBtn
 * @property {HTMLDivElement} err
 * @property {HTMLElement} panel
 * @property {HTMLDivElement} composer
 * @property {HTMLSpanElement} badge
 * @property {HTMLSpanElement} bubbleIcon
 * @property {HTMLButtonElement} bubble
 * @property {HTMLDivElement} root
 */

/**
 * The context a feature with its own UI (verify.js, callback.js, prechat.js) is built from.
 * @typedef {object} WidgetContext
 * @property {import("./config.js").WidgetConfig} cfg
 * @property {import("./store.js").WidgetState} state
 * @property {WidgetUI} ui
 * @property {ShadowRoot} shadow
 * @property {(frame: object) => boolean} sendFrame false when not connected
 * @property {() => void} persist
 * @property {(forceBottom?: boolean) => void} render
 * @property {() => void} autosize
 * @property {(text: string) => {count: number, near: boolean, reason: string}} textSize
 * @property {() => void} openPanel
 */

// The longest message (characters = code points, as the server counts) comes from the
// server's hello (limits.text); until the first hello the server alone refuses.
const COUNTER_FROM = 0.8; // show the character counter from 80 % of the limit
const MAX_CACHED_MESSAGES = 200;
const TYPING_IDLE_MS = 2500;
const TYPING_REFRESH_MS = 3000;
const RESEND_AFTER_MS = 15000;

/** @param {import("./config.js").WidgetConfig} cfg */
export function startWidget(cfg) {
  const { WS_BASE, INBOX, USER_EMAIL, USER_HASH, COLOR, STORE_KEY, VOICE_INBOX } = cfg;

  function loadStore() {
    try {
      const raw = localStorage.getItem(STORE_KEY);
      if (!raw) return null;
      const s = JSON.parse(raw);
      return s && s.v === 1 ? s : null;
    } catch (_) {
      return null;
    }
  }

  // ---------------------------------------------------------------- state (store.js)
  const state = restoreState(loadStore());

  function persist() {
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(persisted(state, MAX_CACHED_MESSAGES)));
    } catch (_) {
      /* storage full or disabled: the widget still works for this page view */
    }
  }

  const sortedMessages = () => sortedOf(state);

  /**
   * @param {StreamId} id
   * @param {HubEvent} ev
   */
  function applyEvent(id, ev) {
    const todo = applyEventTo(state, id, ev);
    if (todo.typing) scheduleTypingExpiry();
    if (todo.verification) verify.onEvent(todo.verification);
  }

  /** @param {WidgetHello} h */
  function applyHello(h) {
    const todo = applyHelloTo(state, h);
    if (todo.verification) verify.onEvent(todo.verification);
  }

  // ---------------------------------------------------------------- socket
  let refusedOnce = false; // 1008 seen once: retried without the (maybe stale) token
  let withoutToken = false;

  function socketUrl() {
    const q = new URLSearchParams({ inbox: INBOX });
    if (state.token && !withoutToken) q.set("token", state.token);
    if (state.lastId && !withoutToken) q.set("last_id", state.lastId);
    if (USER_EMAIL && USER_HASH) {
      q.set("email", USER_EMAIL);
      q.set("hash", USER_HASH);
    }
    return `${WS_BASE}?${q}`;
  }

  /** @type {Record<string, string>} */
  const SOCKET_STATE = { idle: "connecting", connecting: "connecting", online: "online", offline: "offline", refused: "error" };

  const socket = new HubSocket(socketUrl, {
    onStatus: (s) => setConn(SOCKET_STATE[s] || "offline"),
    onHello: (f) => {
      refusedOnce = false;
      withoutToken = false;
      applyHello(f);
      autosize(); // the hello may bring (or change) the length limit
      persist();
      render();
      flushOutbox(true);
    },
    onEvent: (id, event) => {
      if (!event) return;
      applyEvent(id, event);
      persist();
      render();
    },
    onFrame: (f) => {
      if (f.type === "ack") onAck(f.client_id);
      else if (f.type === "verify_result") verify.onResult(f);
      else if (f.type === "error") onErrorFrame(f);
      else if (f.type === "reload") {
        // The gap after our last_id is gone: take a fresh snapshot via a new hello.
        state.lastId = null;
        persist();
        socket.drop(4000, "reload");
      }
    },
    onRefused: (reason) => {
      if (state.token && !refusedOnce) {
        // Maybe our stored visitor token is stale (e.g. the hub's data was reset): try once
        // without it. The old token is kept until a new hello replaces it.
        refusedOnce = true;
        withoutToken = true;
        return true;
      }
      // The hub says why (e.g. this site is not an allowed origin of the inbox): shown in
      // the widget, not only in the console, so whoever embeds it sees what to fix.
      state.errorText = reason ? `Chat is unavailable on this page: ${reason}.` : "Chat is unavailable on this page right now.";
      console.error("[omnihub] widget connection refused (1008):", reason || "");
      return false;
    },
    onClose: () => {
      // A retry without the token that failed for another reason (network, restart): go back
      // to the stored token rather than risk starting a new visitor.
      withoutToken = false;
      refusedOnce = false;
    },
    onTick: () => flushOutbox(false),
  });

  /** @param {object} obj */
  function sendFrame(obj) {
    return socket.send(obj);
  }

  /** @param {string} clientId */
  function onAck(clientId) {
    if (applyAck(state, clientId)) {
      persist();
      render();
    }
  }

  /** @param {ServerFrame} f */
  function onErrorFrame(f) {
    if (f.verification_id) {
      verify.onError(f);
      return;
    }
    if (f.code === "prechat_required" && f.client_id) {
      // Typed before the hello asked for the form: the text moves into the form instead.
      const i = state.outbox.findIndex((x) => x.client_id === f.client_id);
      if (i >= 0) prechat.adoptMessage(state.outbox.splice(i, 1)[0].text);
      persist();
      render();
      return;
    }
    if (!f.client_id) {
      console.warn("[omnihub] server refused a frame:", f.code, f.reason);
      return;
    }
    const o = state.outbox.find((x) => x.client_id === f.client_id);
    if (!o) return;
    if (f.code === "overloaded") {
      o.sentAt = Date.now(); // the resend watchdog tries again later
      return;
    }
    o.failed = true;
    o.error = f.reason || f.code || "not sent";
    persist();
    render();
  }


  /** @param {boolean} all also those sent less than RESEND_AFTER_MS ago */
  function flushOutbox(all) {
    const now = Date.now();
    for (const o of state.outbox) {
      if (o.failed) continue;
      if (!all && o.sentAt && now - o.sentAt < RESEND_AFTER_MS) continue;
      if (sendFrame({ type: "message", client_id: o.client_id, text: o.text })) o.sentAt = now;
      else break;
    }
  }

  // ---------------------------------------------------------------- typing (customer side)
  let typingOn = false;
  let typingSentAt = 0;
  let typingIdleTimer = 0;

  function noteTyping() {
    const now = Date.now();
    if (!typingOn || now - typingSentAt > TYPING_REFRESH_MS) {
      if (sendFrame({ type: "typing", on: true })) {
        typingOn = true;
        typingSentAt = now;
      }
    }
    clearTimeout(typingIdleTimer);
    typingIdleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(typingIdleTimer);
    if (typingOn) sendFrame({ type: "typing", on: false });
    typingOn = false;
  }

  let typingExpiryTimer = 0;
  function scheduleTypingExpiry() {
    clearTimeout(typingExpiryTimer);
    if (!state.agentTyping) return;
    typingExpiryTimer = setTimeout(() => {
      if (state.agentTyping && state.agentTyping.until <= Date.now()) {
        state.agentTyping = null;
        render();
      }
    }, REMOTE_TYPING_TTL_MS + 50);
  }

  // ---------------------------------------------------------------- public actions
  /**
   * @param {unknown} raw
   * @returns {string | null} the client_id, null when there is nothing (allowed) to send
   */
  function send(raw) {
    const text = String(raw ?? "").trim();
    if (!text) return null;
    if (textSize(text).reason) return null; // refused in the composer, never cut
    const o = { client_id: uuid(), text, created_at: new Date().toISOString(), sentAt: 0 };
    state.outbox.push(o);
    persist();
    stopTyping();
    if (sendFrame({ type: "message", client_id: o.client_id, text })) o.sentAt = Date.now();
    else if (!socket.ws && !socket.stopped) socket.connect();
    render(true);
    return o.client_id;
  }

  /** @param {string} clientId */
  function retry(clientId) {
    const o = state.outbox.find((x) => x.client_id === clientId);
    if (!o) return;
    o.failed = false;
    o.error = "";
    o.sentAt = 0;
    persist();
    flushOutbox(true);
    render();
  }

  function openPanel() {
    state.open = true;
    state.unread = 0;
    render(true);
    setTimeout(() => (prechat.active() ? prechat.focus() : ui.input.focus()), 0);
  }

  function closePanel() {
    state.open = false;
    stopTyping();
    render();
    ui.bubble.focus();
  }

  // ---------------------------------------------------------------- UI
  /**
   * @param {string} markup
   * @returns {Node}
   */
  function svg(markup) {
    const t = document.createElement("template");
    t.innerHTML = markup; // constant markup only, never user data
    return /** @type {Node} */ (t.content.firstChild);
  }

  const host = el("div", { id: "omnihub-widget", "data-omnihub": "widget" });
  const shadow = host.attachShadow({ mode: "open" });
  const ui = /** @type {WidgetUI} */ ({});

  function buildUI() {
    shadow.append(el("style", { text: widgetCss(COLOR) }));
    ui.status = el("span", { class: "conn", "data-testid": "widget-status", "data-state": "connecting", role: "status" },
      el("span", { class: "dot" }), el("span", { class: "conn-text", text: "Connecting…" }));
    ui.title = el("h2", { id: "oh-title", text: state.inboxName });
    ui.sub = el("p", { text: "We typically reply in a few minutes" });
    ui.closeBtn = el("button", { class: "icon-btn", type: "button", "aria-label": "Close chat", "data-testid": "widget-close", onclick: closePanel });
    ui.closeBtn.append(svg(ICON_CLOSE));
    ui.list = el("div", { class: "msgs", "data-testid": "widget-messages", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
    ui.typing = el("div", { class: "typing", "data-testid": "widget-typing", "aria-live": "polite" });
    ui.input = el("textarea", {
      rows: 1, placeholder: "Write a message…", "aria-label": "Message", "data-testid": "widget-input",
      "aria-describedby": "oh-count",
    });
    ui.count = el("div", { class: "count", id: "oh-count", "data-testid": "widget-count", "aria-live": "polite", hidden: true });
    ui.sendBtn = el("button", { class: "send", type: "button", "aria-label": "Send message", "data-testid": "widget-send", disabled: true });
    ui.sendBtn.append(svg(ICON_SEND));
    ui.err = el("div", { class: "err", "data-testid": "widget-error", hidden: true, role: "alert" });
    ui.panel = el("section", { class: "panel", role: "dialog", "aria-labelledby": "oh-title", "data-testid": "widget-panel", hidden: true },
      el("header", { class: "head" }, el("div", { class: "titles" }, ui.title, ui.sub, ui.status), ui.closeBtn),
      ui.list, ui.typing, ui.err, ui.count,
      ui.composer = el("div", { class: "composer" }, ui.input, ui.sendBtn),
      el("div", { class: "foot", text: "Powered by omnihub" }));
    ui.badge = el("span", { class: "badge", "data-testid": "widget-unread", hidden: true, "aria-hidden": "true" });
    ui.bubbleIcon = el("span", { style: "display:grid;place-items:center" });
    ui.bubble = el("button", {
      class: "bubble", type: "button", "aria-label": "Open chat", "aria-expanded": "false", "data-testid": "widget-bubble",
      onclick: () => (state.open ? closePanel() : openPanel()),
    }, ui.bubbleIcon, ui.badge);
    ui.root = el("div", { class: "root" }, ui.panel, ui.bubble);
    shadow.append(ui.root);

    const submit = () => {
      const text = ui.input.value;
      if (!text.trim() || textSize(text.trim()).reason) return;
      if (prechat.awayEmailPending()) {
        prechat.sendWithAwayEmail(text); // clears the input when accepted
        return;
      }
      ui.input.value = "";
      autosize();
      send(text);
    };
    ui.sendBtn.addEventListener("click", submit);
    ui.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        submit();
      }
    });
    ui.input.addEventListener("input", () => {
      autosize();
      if (ui.input.value.trim()) noteTyping();
      else stopTyping();
    });
    ui.root.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && state.open) {
        e.stopPropagation();
        closePanel();
      }
    });
    if (VOICE_INBOX) callback.build();
    prechat.build();
    verify.build();
  }

  /** Text against the server's limit (hello.limits.text): {count, near, reason}. */
  /** @param {string} text */
  function textSize(text) {
    return textSizeOf(text, state.maxText, { counterFrom: COUNTER_FROM });
  }

  // Features with their own UI: the context they are built from.
  /** @type {WidgetContext} */
  const w = { cfg, state, ui, shadow, sendFrame, persist, render, autosize, textSize, openPanel };
  const verify = createVerify(w);
  const callback = createCallback(w);
  const prechat = createPrechat(w);

  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 120) + "px";
    const text = ui.input.value.trim();
    const size = textSize(text);
    ui.count.hidden = !size.near && !size.reason;
    ui.count.textContent = size.reason || `${size.count.toLocaleString("en")} / ${state.maxText.toLocaleString("en")}`;
    ui.count.classList.toggle("over", !!size.reason);
    ui.sendBtn.disabled = !text || !!size.reason;
    ui.sendBtn.title = size.reason;
  }

  /** @param {string} c */
  function setConn(c) {
    state.conn = c;
    renderStatus();
  }

  /** The one status the header shows, from the socket and the inbox's availability:
   *  connected + someone can answer → Online; connected + away → We're away;
   *  not connected → Reconnecting… (or Offline when the browser is, or we stopped). */
  function visitorStatus() {
    if (state.conn === "online") {
      return state.availability && state.availability.online === false
        ? { key: "away", label: "We're away" } : { key: "online", label: "Online" };
    }
    if (state.conn === "offline") {
      return socket.stopped || navigator.onLine === false ? { key: "offline", label: "Offline" } : { key: "reconnecting", label: "Reconnecting…" };
    }
    if (state.conn === "error") return { key: "error", label: "Unavailable" };
    return { key: "connecting", label: "Connecting…" };
  }

  function renderStatus() {
    if (!ui.status) return;
    const s = visitorStatus();
    ui.status.dataset.state = state.conn; // the socket (tests, styling hooks)
    ui.status.dataset.status = s.key; // what the visitor is told
    /** @type {HTMLElement} */ (ui.status.querySelector(".conn-text")).textContent = s.label; // built by buildUI
    // The reply-time promise only while someone can actually answer.
    ui.sub.hidden = s.key !== "online";
    ui.err.hidden = !state.errorText;
    ui.err.textContent = state.errorText;
  }

  /** @param {WidgetMessage} m */
  function messageRow(m) {
    const kind = (m.author && m.author.kind) || (m.direction === "in" ? "contact" : "agent");
    const cls = kind === "system" ? "system" : m.direction === "in" ? "in" : "out";
    const row = el("div", {
      class: `row ${cls}`, "data-testid": "widget-message", "data-message-id": m.id,
      "data-direction": m.direction, "data-status": m.status || "",
    });
    if (cls === "out") row.append(el("div", { class: "who", text: (m.author && m.author.name) || (kind === "bot" ? "Bot" : "Agent") }));
    row.append(el("div", { class: "b", dir: "auto", text: m.text || "" }));
    if (cls !== "system") {
      const meta = [timeLabel(m.created_at)];
      if (cls === "in" && m.status === "read") meta.push("Seen");
      if (m.status === "failed") meta.push("Not delivered");
      row.append(el("div", { class: "meta", text: meta.filter(Boolean).join(" · ") }));
    }
    return row;
  }

  /**
   * @param {{client_id: string, text: string, failed?: boolean, error?: string}} o an OutboxEntry or AckedEntry
   * @param {boolean} acked
   */
  function pendingRow(o, acked) {
    const row = el("div", {
      class: `row in ${o.failed ? "failed" : "pending"}`, "data-testid": "widget-message",
      "data-client-id": o.client_id, "data-direction": "in", "data-status": o.failed ? "failed" : acked ? "sent" : "pending",
    }, el("div", { class: "b", dir: "auto", text: o.text }));
    const meta = el("div", { class: "meta" });
    if (o.failed) {
      meta.append(`Not sent (${o.error}) · `,
        el("button", { type: "button", text: "Retry", onclick: () => retry(o.client_id) }));
    } else {
      meta.textContent = acked ? "Sent" : state.conn === "online" ? "Sending…" : "Waiting for connection…";
    }
    row.append(meta);
    return row;
  }

  /** @param {boolean} [forceBottom] scroll to the newest message */
  function render(forceBottom) {
    if (!ui.root) return;
    ui.panel.hidden = !state.open;
    ui.bubble.setAttribute("aria-expanded", String(state.open));
    ui.bubble.setAttribute("aria-label", state.open ? "Minimise chat" : state.unread ? `Open chat, ${state.unread} unread` : "Open chat");
    ui.bubbleIcon.replaceChildren(svg(state.open ? ICON_DOWN : ICON_CHAT));
    ui.badge.hidden = !state.unread || state.open;
    ui.badge.textContent = state.unread > 9 ? "9+" : String(state.unread);
    ui.title.textContent = state.inboxName;
    renderStatus();
    prechat.render();
    verify.render();

    const list = ui.list;
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
    const rows = [];
    if (state.greeting) {
      rows.push(el("div", { class: "row out greet" }, el("div", { class: "who", text: state.inboxName }),
        el("div", { class: "b", dir: "auto", text: state.greeting })));
    }
    const seen = new Set();
    for (const m of sortedMessages()) {
      rows.push(messageRow(m));
      if (m.provider_id) seen.add(clientIdOf(m.provider_id));
    }
    for (const o of state.acked.values()) if (!seen.has(o.client_id)) rows.push(pendingRow(o, true));
    for (const o of state.outbox) if (!seen.has(o.client_id)) rows.push(pendingRow(o, false));
    if (state.conversationStatus === "resolved") {
      rows.push(el("div", { class: "row system" }, el("div", { class: "b", text: "This conversation was marked as resolved. Write to start a new one." })));
    }
    list.replaceChildren(...rows);
    if (forceBottom || nearBottom) list.scrollTop = list.scrollHeight;

    const t = state.agentTyping && state.agentTyping.until > Date.now() ? state.agentTyping : null;
    ui.typing.replaceChildren();
    if (t) {
      ui.typing.append(el("span", { class: "dots", "aria-hidden": "true" }, el("span"), el("span"), el("span")),
        el("span", { text: `${t.name} is typing…` }));
    }
  }


  // ---------------------------------------------------------------- boot
  function boot() {
    buildUI();
    document.body.appendChild(host);
    render();
    socket.connect();
    // Come back quickly when the network or the tab does; the browser knows it lost the
    // network: do not claim "Online" until the pings notice.
    socket.followBrowser({ dropWhenOffline: true, onBrowserOffline: renderStatus });
    window.addEventListener("pagehide", stopTyping);
  }

  /** @type {any} */ (window).OmnihubWidget = {
    __omnihub: true,
    open: () => openPanel(),
    close: () => closePanel(),
    toggle: () => (state.open ? closePanel() : openPanel()),
    send: (/** @type {unknown} */ text) => send(text),
    /** Open the "Call me back" form (needs data-voice-inbox on the tag). */
    callback: () => (VOICE_INBOX ? callback.open() : undefined),
    /** Test/debug hooks (not a stable API). */
    get state() {
      return {
        connection: state.conn, token: state.token, lastId: state.lastId, conversationId: state.conversationId,
        messages: sortedMessages(), outbox: state.outbox.map((o) => ({ ...o })), acked: Array.from(state.acked.values()),
      };
    },
    /** Drop the socket and stay offline (tests: simulate a network loss). */
    disconnect: () => socket.pause(),
    /** Reconnect now (resumes with last_id). */
    reconnect: () => socket.restart(),
  };

  if (document.body) boot();
  else document.addEventListener("DOMContentLoaded", boot, { once: true });
}
