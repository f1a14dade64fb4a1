// @ts-check
// The widget's state and the (pure, idempotent) application of hub frames to it: no DOM,
// no network, no timers. app.js feeds it hello/event/ack frames and renders it; the unit
// tests (web/static/tests/widget-store.test.js) feed it the same frames.
//
// Invariants (docs/frontend.md "Chat widget"): messages are upserted by id; an event not
// after `lastId` is ignored; `lastId` and `messages` always belong together; a client_id
// leaves the outbox when acked or when its stored message (provider_id ending in
// ":<client_id>") arrives.

import { clientIdOf, cmpStreamId } from "../../lib/stream-id.js";

export const REMOTE_TYPING_TTL_MS = 7000;

/** @typedef {import("../../lib/types.js").WidgetMessage} WidgetMessage */
/** @typedef {import("../../lib/types.js").WidgetHello} WidgetHello */
/** @typedef {import("../../lib/types.js").HubEvent} HubEvent */
/** @typedef {import("../../lib/types.js").Verification} Verification */
/** @typedef {{client_id: string, text: string, created_at: string, sentAt: number, failed?: boolean, error?: string}} OutboxEntry */
/** @typedef {{client_id: string, text: string, created_at: string}} AckedEntry */
/**
 * @typedef {object} WidgetState
 * @property {string | null} token the visitor token
 * @property {string | null} lastId the stream id of the last applied frame
 * @property {number | null} conversationId
 * @property {Map<number, WidgetMessage>} messages by id
 * @property {OutboxEntry[]} outbox unacked customer messages, oldest first
 * @property {Map<string, AckedEntry>} acked acked, waiting for their message.created
 * @property {string} inboxName
 * @property {string} greeting
 * @property {string} conversationStatus
 * @property {{name: string, until: number} | null} agentTyping
 * @property {boolean} open the panel is open
 * @property {number} unread
 * @property {string} conn connecting | online | offline | error
 * @property {string} errorText
 * @property {any} prechat the pre-chat form the server asks this (new) visitor to fill in, or null
 * @property {{online: boolean, reason: string | null, next_open?: string | null}} availability
 * @property {number} maxText the longest message (hello.limits.text), 0 = unknown
 * @property {boolean} awayEmailLeft an email left in the away box has been sent with a message
 */

/**
 * The state from what `persisted()` stored (or nothing).
 * @param {any} saved
 * @returns {WidgetState}
 */
export function restoreState(saved) {
  saved = saved && typeof saved === "object" ? saved : {};
  return {
    token: saved.token || null,
    // last_id is only meaningful together with the messages it was built from.
    lastId: saved.last_id && Array.isArray(saved.messages) ? saved.last_id : null,
    conversationId: saved.conversation_id || null,
    messages: new Map((Array.isArray(saved.messages) ? saved.messages : []).map((/** @type {WidgetMessage} */ m) => [m.id, m])),
    outbox: Array.isArray(saved.outbox) ? saved.outbox.map((/** @type {OutboxEntry} */ o) => ({ ...o, sentAt: 0 })) : [],
    acked: new Map(),
    inboxName: saved.inbox_name || "Chat",
    greeting: saved.greeting || "",
    conversationStatus: saved.conversation_status || "open",
    agentTyping: null,
    open: false,
    unread: 0,
    conn: "connecting",
    errorText: "",
    prechat: null,
    availability: saved.availability || { online: true, reason: null },
    maxText: Number(saved.max_text) || 0,
    awayEmailLeft: !!saved.away_email_left,
  };
}

/**
 * What goes to localStorage: the last `maxCached` messages with the `last_id` they were
 * built from, and the outbox (without failed entries).
 * @param {WidgetState} state
 * @param {number} maxCached
 */
export function persisted(state, maxCached) {
  return {
    v: 1,
    token: state.token,
    last_id: state.lastId,
    conversation_id: state.conversationId,
    conversation_status: state.conversationStatus,
    inbox_name: state.inboxName,
    greeting: state.greeting,
    availability: state.availability,
    max_text: state.maxText,
    away_email_left: state.awayEmailLeft,
    messages: sortedMessages(state).slice(-maxCached),
    outbox: state.outbox
      .filter((o) => !o.failed)
      .map(({ client_id, text, created_at }) => ({ client_id, text, created_at })),
  };
}

/**
 * @param {WidgetState} state
 * @returns {WidgetMessage[]} ordered by id
 */
export function sortedMessages(state) {
  return Array.from(state.messages.values()).sort((a, b) => a.id - b.id);
}

/**
 * @param {WidgetState} state
 * @param {WidgetMessage | null | undefined} m
 * @returns {boolean} it was new
 */
export function upsertMessage(state, m) {
  if (!m || typeof m.id !== "number" || m.private) return false;
  const prev = state.messages.get(m.id);
  state.messages.set(m.id, prev ? { ...prev, ...m } : m);
  if (m.provider_id) settleClientId(state, clientIdOf(m.provider_id));
  return !prev;
}

/**
 * A client_id is settled: its stored message exists (or it was acked).
 * @param {WidgetState} state
 * @param {string} clientId
 */
export function settleClientId(state, clientId) {
  const i = state.outbox.findIndex((o) => o.client_id === clientId);
  if (i >= 0) state.outbox.splice(i, 1);
  state.acked.delete(clientId);
}

/**
 * An `ack` frame: the entry leaves the outbox and waits for its message.created (unless
 * that already arrived).
 * @param {WidgetState} state
 * @param {string | null | undefined} clientId
 * @returns {boolean} something changed
 */
export function applyAck(state, clientId) {
  if (!clientId) return false;
  const i = state.outbox.findIndex((o) => o.client_id === clientId);
  if (i < 0) return false;
  const [o] = state.outbox.splice(i, 1);
  const done = sortedMessages(state).some((m) => clientIdOf(m.provider_id) === clientId);
  if (!done) state.acked.set(clientId, { client_id: clientId, text: o.text, created_at: o.created_at });
  return true;
}

/**
 * Apply one event frame.
 * @param {WidgetState} state
 * @param {string | null} id its stream id
 * @param {HubEvent} ev
 * @param {number} [now]
 * @returns {{verification?: Verification, typing?: boolean}} what app.js must still do: pass a
 *   verification to the code box, (re)arm the typing expiry
 */
export function applyEvent(state, id, ev, now = Date.now()) {
  /** @type {{verification?: Verification, typing?: boolean}} */
  const todo = {};
  if (id && state.lastId && cmpStreamId(id, state.lastId) <= 0) return todo; // already applied
  let fresh = false;
  switch (ev.type) {
    case "message.created": {
      const isNew = upsertMessage(state, ev.message);
      if (isNew && ev.message.direction === "out") {
        fresh = true;
        if (ev.message.author && ev.message.author.kind === "agent") state.agentTyping = null;
      }
      if (ev.message && ev.message.conversation_id) state.conversationId = ev.message.conversation_id;
      break;
    }
    case "message.status": {
      const m = state.messages.get(ev.message_id);
      if (m) state.messages.set(m.id, { ...m, status: ev.status });
      break;
    }
    case "conversation.created":
      state.conversationId = ev.conversation.id;
      state.conversationStatus = ev.conversation.status || "open";
      break;
    case "conversation.status":
      if (!state.conversationId || ev.conversation_id === state.conversationId) {
        state.conversationStatus = ev.status;
      }
      break;
    case "typing": {
      const a = ev.author || {};
      if (a.kind !== "contact") {
        state.agentTyping = ev.on ? { name: a.name || "Agent", until: now + REMOTE_TYPING_TTL_MS } : null;
        todo.typing = true;
      }
      break;
    }
    case "verification.updated":
      todo.verification = /** @type {Verification} */ (/** @type {unknown} */ (ev)); // the event carries the verification's fields
      break;
    default:
      break; // events the widget does not display
  }
  if (id) state.lastId = id;
  if (fresh && !state.open) state.unread += 1;
  return todo;
}

/**
 * Apply a `hello`.
 * @param {WidgetState} state
 * @param {WidgetHello} h
 * @returns {{verification?: Verification}} an open verification to show
 */
export function applyHello(state, h) {
  const tokenChanged = !!(state.token && h.visitor_token && h.visitor_token !== state.token);
  state.token = h.visitor_token || state.token;
  if (h.inbox) {
    state.inboxName = h.inbox.name || state.inboxName;
    state.greeting = h.inbox.greeting || "";
  }
  if (tokenChanged) {
    // A different visitor: whatever we cached belongs to someone else's conversation.
    state.messages.clear();
    state.acked.clear();
    state.conversationStatus = "open";
    state.awayEmailLeft = false;
  }
  // The server decides who must fill in the pre-chat form (new visitors only).
  state.prechat = h.prechat || null;
  if (h.availability) state.availability = h.availability;
  if (h.limits && h.limits.text) state.maxText = h.limits.text;
  // null = no open conversation (none yet, or the last one was resolved).
  if ((h.conversation_id || null) !== state.conversationId) state.conversationStatus = "open";
  state.conversationId = h.conversation_id || null;
  if (Array.isArray(h.messages) || h.reset) {
    state.messages.clear();
    for (const m of h.messages || []) upsertMessage(state, m);
  }
  // hello.last_id is where the live stream (after the gap, if any) continues from; when we
  // sent a last_id the gap follows as events, so our own position stays authoritative.
  if (h.last_id && (!state.lastId || h.reset || Array.isArray(h.messages) || tokenChanged)) {
    state.lastId = h.last_id;
  }
  return h.verification ? { verification: h.verification } : {};
}
