// @ts-check
// Agent inbox state and the (pure, idempotent) application of hub events to it.
//
// No DOM, no network: main code feeds it REST snapshots and socket events and renders it.
//
// Invariants (docs/frontend.md):
//  - every change is an upsert keyed by id, so applying an event twice is harmless;
//  - each conversation remembers the stream id (`_v`) of the newest snapshot or event that
//    set its fields; an older event never overwrites newer data;
//  - events received while a REST snapshot is in flight are kept in a bounded buffer and
//    re-applied on top of the snapshot (only those after its `last_event_id` change anything).

import { clientIdOf, cmpStreamId, maxStreamId, minStreamId } from "./lib/stream-id.js";

export { clientIdOf, cmpStreamId, maxStreamId, minStreamId };

/** @typedef {import("./lib/types.js").StreamId} StreamId */
/** @typedef {import("./lib/types.js").Message} Message */
/** @typedef {import("./lib/types.js").Conversation} Conversation */
/** @typedef {import("./lib/types.js").HubEvent} HubEvent */
/** @typedef {{id: StreamId, event: HubEvent, at: number}} BufferedEvent */
/**
 * @typedef {{client_id: string, conversation_id: number, text: string, private?: boolean,
 *   created_at?: string, state: "pending" | "acked" | "failed", message_id?: number,
 *   error?: string, [field: string]: any}} PendingReply
 */
/** @typedef {{assignee: "mine" | "unassigned" | "all", status: string}} ListFilter */
/** @typedef {import("./lib/types.js").ListSnapshot} ListSnapshot */
/** @typedef {import("./lib/types.js").DetailSnapshot} DetailSnapshot */

const TYPING_TTL_MS = 7000;
const BUFFER_MAX = 2000;

/** @param {Conversation} c */
function tsOf(c) {
  const t = Date.parse(c.last_message_at || c.created_at || "");
  return Number.isNaN(t) ? 0 : t;
}

export class InboxStore {
  constructor() {
    /** @type {import("./lib/types.js").Me | null} */
    this.me = null;
    /** @type {Map<number, Conversation>} conversation id -> Conversation + last_message + _v */
    this.conversations = new Map();
    /** @type {number | null} */
    this.currentId = null;
    /** @type {Map<number, Message>} messages of the open conversation, by id */
    this.messages = new Map();
    /** @type {StreamId} */
    this.messagesV = null; // stream id of the open conversation's message snapshot
    /** @type {import("./lib/types.js").CustomerContext | null} */
    this.context = null; // {contact, identities, accounts, orders, invoices, conversations}
    /** @type {Map<number, Set<number>>} conversation id -> unseen incoming message ids */
    this.unread = new Map();
    /** @type {Map<number, {name: string, kind?: string, until: number}>} conversation id -> typing */
    this.typing = new Map();
    /** @type {Map<string, PendingReply>} client_id -> pending reply */
    this.pending = new Map();
    /** @type {Map<string, {depth: number, oldest_wait_s: number, inbox: string}>} queue slug -> stats */
    this.queues = new Map();
    /** @type {BufferedEvent[]} recent socket events, oldest first */
    this.buffer = [];
    /** @type {Set<number>} conversation ids we saw events for but do not know yet (main fetches them) */
    this.missing = new Set();
    /** @type {ListFilter} */
    this.filter = { assignee: "mine", status: "open" };
  }

  // ------------------------------------------------------------------ snapshots

  /**
   * Replace the conversation list with REST snapshots.
   * @param {ListSnapshot[]} snapshots
   */
  loadLists(snapshots) {
    const next = new Map();
    for (const snap of snapshots) {
      for (const item of snap.conversations || []) {
        const c = listItem(item);
        const prev = next.get(c.id);
        if (!prev || cmpStreamId(snap.last_event_id, prev._v) > 0) {
          next.set(c.id, { ...c, _v: snap.last_event_id || null });
        }
      }
    }
    // Keep the open conversation even when it left the current filter.
    if (this.currentId && !next.has(this.currentId) && this.conversations.has(this.currentId)) {
      next.set(this.currentId, this.conversations.get(this.currentId));
    }
    this.conversations = next;
    const oldest = snapshots.reduce((/** @type {StreamId} */ acc, s) => minStreamId(acc, s.last_event_id || null), null);
    this.replayAfter(oldest);
  }

  /**
   * Upsert one conversation from REST (GET /conversations/{id} or an action's answer).
   * @param {Conversation} conv
   * @param {StreamId | undefined} lastEventId
   * @param {Message[]} [messages]
   */
  upsertConversation(conv, lastEventId, messages) {
    const prev = this.conversations.get(conv.id);
    if (!prev || !lastEventId || !prev._v || cmpStreamId(lastEventId, prev._v) >= 0) {
      const lastMessage = messages && messages.length ? latestVisible(messages) : undefined;
      // A payload without the name (older writers) keeps the one we know for that assignee.
      const keepName = prev && !conv.assignee_name && prev.assignee_id === conv.assignee_id;
      this.conversations.set(conv.id, {
        ...(prev || {}),
        ...conv,
        ...(keepName ? { assignee_name: prev.assignee_name } : {}),
        last_message: lastMessage || conv.last_message || (prev && prev.last_message) || null,
        _v: lastEventId || (prev && prev._v) || null,
      });
    }
    this.missing.delete(conv.id);
  }

  /**
   * Load the open conversation's detail snapshot.
   * @param {DetailSnapshot} detail
   */
  loadConversation(detail) {
    const conv = detail.conversation;
    this.upsertConversation(conv, detail.last_event_id, detail.messages);
    if (conv.id !== this.currentId) return;
    this.messages = new Map((detail.messages || []).map((m) => [m.id, m]));
    this.messagesV = detail.last_event_id || null;
    for (const m of this.messages.values()) this.settleByMessage(m);
    this.replayAfter(detail.last_event_id);
  }

  /** @param {number | null} id */
  select(id) {
    if (this.currentId !== id) {
      this.currentId = id;
      this.messages = new Map();
      this.messagesV = null;
      this.context = null;
    }
    if (id) this.unread.delete(id);
  }

  /** @param {StreamId | undefined} lastEventId */
  replayAfter(lastEventId) {
    for (const { id, event, at } of this.buffer) {
      if (!lastEventId || cmpStreamId(id, lastEventId) > 0) this.apply(id, event, at, true);
    }
  }

  // ------------------------------------------------------------------ events

  /**
   * Record a socket event and apply it.
   * @param {StreamId} id
   * @param {HubEvent} event
   * @param {number} [at] when it arrived (ms)
   * @returns {number[]} the ids of touched conversations
   */
  receive(id, event, at = Date.now()) {
    this.buffer.push({ id, event, at });
    if (this.buffer.length > BUFFER_MAX) this.buffer.splice(0, this.buffer.length - BUFFER_MAX);
    return this.apply(id, event, at, false);
  }

  /**
   * @param {StreamId} id
   * @param {HubEvent} ev
   * @param {number} at
   * @param {boolean} replay
   * @returns {number[]}
   */
  apply(id, ev, at, replay) {
    switch (ev.type) {
      case "message.created":
        return this.applyMessage(id, ev.message, replay);
      case "message.status": {
        const m = this.messages.get(ev.message_id);
        const seen = m && (m._v || this.messagesV);
        if (m && ev.conversation_id === this.currentId && (!seen || cmpStreamId(id, seen) > 0)) {
          this.messages.set(m.id, { ...m, status: ev.status, status_error: ev.error || "", _v: id });
        }
        return [ev.conversation_id];
      }
      case "conversation.created": {
        const c = ev.conversation;
        const prev = this.conversations.get(c.id);
        if (!prev || !prev._v || cmpStreamId(id, prev._v) > 0) {
          this.conversations.set(c.id, { last_message: null, ...(prev || {}), ...c, _v: id });
        }
        this.missing.delete(c.id);
        return [c.id];
      }
      case "conversation.assigned":
        return this.patchConversation(id, ev.conversation_id, { assignee_id: ev.agent_id, assignee_name: ev.agent_name || "" });
      case "conversation.status":
        return this.patchConversation(id, ev.conversation_id, { status: ev.status });
      case "typing": {
        const a = ev.author || {};
        if (a.kind === "agent" && this.me && a.agent_id === this.me.id) return [];
        if (ev.on && Date.now() - at < TYPING_TTL_MS) {
          this.typing.set(ev.conversation_id, { name: a.name || "Customer", kind: a.kind, until: at + TYPING_TTL_MS });
        } else {
          this.typing.delete(ev.conversation_id);
        }
        return [ev.conversation_id];
      }
      case "contact.merged":
        return this.applyMerge(id, ev);
      case "contact.split":
        return this.moveToContact(id, ev.conversation_ids || [], ev.new_contact_id, null);
      case "queue.stats":
        this.queues.set(ev.queue, { depth: ev.depth, oldest_wait_s: ev.oldest_wait_s, inbox: ev.inbox });
        return [];
      default:
        return []; // workitem.*, agent.presence: not shown by the inbox yet
    }
  }

  /**
   * @param {StreamId} id
   * @param {Message} m
   * @param {boolean} replay
   * @returns {number[]}
   */
  applyMessage(id, m, replay) {
    const conv = this.conversations.get(m.conversation_id);
    if (conv) {
      // A private note is not the list's last message and does not move the row
      // (docs/frontend.md "The conversation list"): the row shows the customer thread.
      if (!m.private) {
        const lm = conv.last_message;
        if (!lm || lm.id <= m.id) conv.last_message = m;
        if (!conv.last_message_at || Date.parse(m.created_at || "") > Date.parse(conv.last_message_at)) {
          conv.last_message_at = m.created_at;
        }
      }
    } else {
      this.missing.add(m.conversation_id);
    }
    if (m.conversation_id === this.currentId) {
      // Snapshot already contains it when the event is not newer than the snapshot.
      if (!this.messagesV || cmpStreamId(id, this.messagesV) > 0) {
        const prev = this.messages.get(m.id);
        this.messages.set(m.id, { ...(prev || {}), ...m, _v: id });
      }
      if (this.typing.has(m.conversation_id) && m.direction === "in") this.typing.delete(m.conversation_id);
    } else if (m.direction === "in" && !m.private && (!conv || !conv._v || cmpStreamId(id, conv._v) > 0)) {
      let unseen = this.unread.get(m.conversation_id);
      if (!unseen) this.unread.set(m.conversation_id, (unseen = new Set()));
      unseen.add(m.id);
    }
    this.settleByMessage(m);
    void replay;
    return [m.conversation_id];
  }

  /**
   * @param {StreamId} id
   * @param {number} convId
   * @param {Partial<Conversation>} fields
   * @returns {number[]}
   */
  patchConversation(id, convId, fields) {
    const conv = this.conversations.get(convId);
    if (!conv) {
      this.missing.add(convId);
      return [convId];
    }
    if (!conv._v || cmpStreamId(id, conv._v) > 0) {
      Object.assign(conv, fields);
      conv._v = id;
    }
    return [convId];
  }

  /**
   * contact.merged: the merged contact's conversations now belong to the survivor. The
   * event names ids only (it is hub-wide), so the survivor's name comes from a row we
   * know; the survivor keeps its name unless it had none (hub/contacts/actions/merge.py).
   * @param {StreamId} id
   * @param {HubEvent} ev
   * @returns {number[]}
   */
  applyMerge(id, ev) {
    const ids = new Set(ev.conversation_ids || []);
    for (const c of this.conversations.values()) if (c.contact_id === ev.merged_id) ids.add(c.id);
    const known = Array.from(this.conversations.values()).find((c) => c.contact_id === ev.survivor_id && c.contact_name);
    if (known) return this.moveToContact(id, Array.from(ids), ev.survivor_id, known.contact_name);
    // Nameless or unknown survivor: its name may now be the merged one; refetch every row.
    for (const c of this.conversations.values()) if (c.contact_id === ev.survivor_id) ids.add(c.id);
    return this.moveToContact(id, Array.from(ids), ev.survivor_id, null);
  }

  /**
   * Conversations moved to another contact. With `name` null the contact's name is not
   * known here: the rows are marked missing so main refetches them over REST.
   * @param {StreamId} id
   * @param {number[]} convIds
   * @param {number} contactId
   * @param {string | null} name
   * @returns {number[]}
   */
  moveToContact(id, convIds, contactId, name) {
    const touched = [];
    for (const cid of convIds) {
      const conv = this.conversations.get(cid);
      if (!conv) continue; // a conversation this agent does not list
      if (!conv._v || cmpStreamId(id, conv._v) > 0) {
        conv.contact_id = contactId;
        if (name !== null) conv.contact_name = name;
        conv._v = id;
        if (name === null) this.missing.add(cid);
      }
      touched.push(cid);
    }
    return touched;
  }

  /** A message from a REST answer (e.g. the POST fallback for a reply). */
  /** @param {Message} m */
  upsertRestMessage(m) {
    if (m.conversation_id === this.currentId && !this.messages.has(m.id)) this.messages.set(m.id, m);
    const conv = this.conversations.get(m.conversation_id);
    if (conv && !m.private && (!conv.last_message || conv.last_message.id < m.id)) {
      conv.last_message = m;
      conv.last_message_at = m.created_at;
    }
    this.settleByMessage(m);
  }

  // ------------------------------------------------------------------ pending replies

  /** @param {{client_id: string, conversation_id: number, text: string, [field: string]: any}} p */
  addPending(p) {
    this.pending.set(p.client_id, /** @type {PendingReply} */ ({ state: "pending", ...p }));
  }

  /**
   * @param {string} clientId
   * @param {number} [messageId]
   */
  ack(clientId, messageId) {
    const p = this.pending.get(clientId);
    if (!p) return;
    if (messageId && this.messages.has(messageId)) {
      this.pending.delete(clientId);
      return;
    }
    p.state = "acked";
    if (messageId) p.message_id = messageId;
  }

  /**
   * @param {string} clientId
   * @param {string} [reason]
   */
  fail(clientId, reason) {
    const p = this.pending.get(clientId);
    if (p) Object.assign(p, { state: "failed", error: reason || "not sent" });
  }

  /** @param {Message} m */
  settleByMessage(m) {
    for (const [cid, p] of this.pending) {
      if (clientIdOf(m.provider_id) === cid || (p.message_id && p.message_id === m.id)) this.pending.delete(cid);
    }
  }

  // ------------------------------------------------------------------ queries

  /**
   * @param {Conversation} c
   * @param {ListFilter} [filter]
   */
  matches(c, filter = this.filter) {
    if (filter.status !== "all" && c.status !== filter.status) return false;
    if (filter.assignee === "mine") return !!this.me && c.assignee_id === this.me.id;
    if (filter.assignee === "unassigned") return c.assignee_id == null;
    return true;
  }

  /**
   * @param {ListFilter} [filter]
   * @returns {Conversation[]}
   */
  list(filter = this.filter) {
    return Array.from(this.conversations.values())
      .filter((c) => this.matches(c, filter))
      .sort((a, b) => tsOf(b) - tsOf(a) || b.id - a.id);
  }

  /** @param {ListFilter["assignee"]} assignee */
  count(assignee) {
    return this.list({ ...this.filter, assignee }).length;
  }

  /** @param {number} id */
  unreadCount(id) {
    const s = this.unread.get(id);
    return s ? s.size : 0;
  }

  totalUnread() {
    let n = 0;
    for (const s of this.unread.values()) n += s.size;
    return n;
  }

  currentMessages() {
    return Array.from(this.messages.values()).sort((a, b) => a.id - b.id);
  }

  currentPending() {
    const shown = new Set();
    for (const m of this.messages.values()) {
      if (m.provider_id) shown.add(clientIdOf(m.provider_id));
      shown.add(`#${m.id}`);
    }
    return Array.from(this.pending.values()).filter(
      (p) => p.conversation_id === this.currentId && !shown.has(p.client_id) && !(p.message_id && shown.has(`#${p.message_id}`)),
    );
  }

  /** @param {number} id */
  typingFor(id) {
    const t = this.typing.get(id);
    if (!t) return null;
    if (t.until <= Date.now()) {
      this.typing.delete(id);
      return null;
    }
    return t;
  }
}

/** A list entry is `{conversation, last_message}` (also accepts a flat Conversation). */
/**
 * @param {any} item
 * @returns {Conversation}
 */
export function listItem(item) {
  if (item && item.conversation) return { ...item.conversation, last_message: item.last_message || null };
  return item;
}

/**
 * @param {Message[]} messages
 * @returns {Message | null}
 */
function latestVisible(messages) {
  /** @type {Message | null} */
  let best = null;
  for (const m of messages) if (!m.private && (!best || m.id > best.id)) best = m;
  return best;
}
