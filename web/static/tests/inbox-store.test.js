// InboxStore is pure: REST snapshots and socket events in, state out. These tests pin its
// invariants (docs/frontend.md "Agent inbox" invariants 1-3).
import assert from "node:assert/strict";
import { test } from "node:test";
import { InboxStore, listItem } from "../inbox-store.js";

const ME = { id: 7, role: "agent", name: "Ada" };
const conv = (id, fields = {}) => ({ id, status: "open", channel: "chat", assignee_id: null, created_at: "2026-03-12T10:00:00Z", ...fields });
const msg = (id, conversation_id, fields = {}) => ({ id, conversation_id, direction: "in", text: `m${id}`, created_at: `2026-03-12T10:${String(id % 60).padStart(2, "0")}:00Z`, ...fields });
const created = (m) => ({ type: "message.created", message: m });

function store() {
  const s = new InboxStore();
  s.me = ME;
  return s;
}

test("events are idempotent: applying the same stream twice changes nothing", () => {
  const s = store();
  s.loadLists([{ conversations: [conv(1), conv(2)], last_event_id: "10-0" }]);
  const events = [
    ["11-0", created(msg(100, 1))],
    ["12-0", { type: "conversation.assigned", conversation_id: 1, agent_id: 7, agent_name: "Ada" }],
    ["13-0", created(msg(101, 2))],
    ["14-0", { type: "conversation.status", conversation_id: 2, status: "resolved" }],
  ];
  for (const [id, ev] of events) s.receive(id, ev);
  const snapshot = JSON.stringify([...s.conversations.entries()]);
  const unread = s.totalUnread();
  for (const [id, ev] of events) s.apply(id, ev, Date.now(), false);
  assert.equal(JSON.stringify([...s.conversations.entries()]), snapshot);
  assert.equal(s.totalUnread(), unread);
  assert.equal(unread, 2); // unread counts are sets of message ids
});

test("an event older than a conversation's snapshot does not overwrite it", () => {
  const s = store();
  s.loadLists([{ conversations: [conv(1, { status: "resolved" })], last_event_id: "20-0" }]);
  s.receive("15-0", { type: "conversation.status", conversation_id: 1, status: "open" });
  assert.equal(s.conversations.get(1).status, "resolved");
  s.receive("21-0", { type: "conversation.status", conversation_id: 1, status: "open" });
  assert.equal(s.conversations.get(1).status, "open");
  assert.equal(s.conversations.get(1)._v, "21-0");
});

test("stream ids compare as numbers, not strings", () => {
  const s = store();
  s.loadLists([{ conversations: [conv(1)], last_event_id: "9-0" }]);
  s.receive("10-0", { type: "conversation.status", conversation_id: 1, status: "resolved" });
  assert.equal(s.conversations.get(1).status, "resolved"); // "10-0" < "9-0" as strings
});

test("events that arrived during a REST request are replayed on top of its snapshot", () => {
  const s = store();
  s.receive("31-0", { type: "conversation.assigned", conversation_id: 1, agent_id: 7, agent_name: "Ada" });
  assert.ok(s.missing.has(1)); // unknown yet: main fetches it
  // The list answer was taken at 30-0, before the event.
  s.loadLists([{ conversations: [conv(1)], last_event_id: "30-0" }]);
  assert.equal(s.conversations.get(1).assignee_id, 7);
  // A snapshot taken after the event does not get it applied twice (and keeps its own data).
  s.loadLists([{ conversations: [conv(1, { assignee_id: 9 })], last_event_id: "32-0" }]);
  assert.equal(s.conversations.get(1).assignee_id, 9);
});

test("the oldest of several list snapshots bounds the replay", () => {
  const s = store();
  s.receive("41-0", { type: "conversation.status", conversation_id: 2, status: "resolved" });
  s.loadLists([
    { conversations: [conv(1)], last_event_id: "45-0" },
    { conversations: [conv(2)], last_event_id: "40-0" },
  ]);
  assert.equal(s.conversations.get(2).status, "resolved");
});

test("the open conversation's messages: upsert by id, only events after its snapshot", () => {
  const s = store();
  s.select(1);
  s.loadConversation({ conversation: conv(1), messages: [msg(1, 1), msg(2, 1)], last_event_id: "50-0" });
  s.receive("49-0", created(msg(2, 1, { text: "stale" })));
  assert.equal(s.messages.get(2).text, "m2");
  s.receive("51-0", created(msg(3, 1)));
  s.receive("51-0", created(msg(3, 1)));
  assert.deepEqual(s.currentMessages().map((m) => m.id), [1, 2, 3]);
  assert.equal(s.unreadCount(1), 0); // the open conversation is being read
  s.receive("52-0", { type: "message.status", conversation_id: 1, message_id: 3, status: "read" });
  assert.equal(s.messages.get(3).status, "read");
});

test("unread: incoming public messages of other conversations, cleared on select", () => {
  const s = store();
  s.loadLists([{ conversations: [conv(1), conv(2)], last_event_id: "1-0" }]);
  s.select(1);
  s.receive("2-0", created(msg(10, 2)));
  s.receive("3-0", created(msg(11, 2, { private: true })));
  s.receive("4-0", created(msg(12, 2, { direction: "out" })));
  assert.equal(s.unreadCount(2), 1);
  s.select(2);
  assert.equal(s.unreadCount(2), 0);
});

test("a private note never becomes the list preview over a public message", () => {
  const s = store();
  s.loadLists([{ conversations: [conv(1)], last_event_id: "1-0" }]);
  s.receive("2-0", created(msg(10, 1)));
  s.receive("3-0", created(msg(11, 1, { private: true, direction: "out" })));
  assert.equal(s.conversations.get(1).last_message.id, 10);
});

test("a private note leaves the row alone: no preview, no last_message_at, as REST", () => {
  const s = store();
  s.loadLists([{ conversations: [{ conversation: conv(1, { last_message_at: "2026-03-12T10:10:00Z" }), last_message: null }], last_event_id: "1-0" }]);
  s.receive("2-0", created(msg(30, 1, { private: true, direction: "out" })));
  assert.equal(s.conversations.get(1).last_message, null); // not even on an empty row
  assert.equal(s.conversations.get(1).last_message_at, "2026-03-12T10:10:00Z");
  // The open conversation's detail (notes included) previews its last public message.
  s.select(1);
  s.loadConversation({ conversation: conv(1), messages: [msg(29, 1), msg(30, 1, { private: true })], last_event_id: "3-0" });
  assert.equal(s.conversations.get(1).last_message.id, 29);
  assert.equal(s.currentMessages().length, 2); // the note is still in the thread
  s.upsertRestMessage(msg(31, 1, { private: true, direction: "out" }));
  assert.equal(s.conversations.get(1).last_message.id, 29);
});

test("contact.merged: the merged contact's rows take the survivor's id and name", () => {
  const s = store();
  s.loadLists([{ conversations: [
    conv(1, { contact_id: 5, contact_name: "Dana" }),
    conv(2, { contact_id: 6, contact_name: "D. Other" }),
    conv(3, { contact_id: 9, contact_name: "Sam" }),
  ], last_event_id: "1-0" }]);
  s.receive("2-0", { type: "contact.merged", survivor_id: 5, merged_id: 6, conversation_ids: [2, 44] });
  assert.deepEqual([1, 2, 3].map((i) => [s.conversations.get(i).contact_id, s.conversations.get(i).contact_name]),
    [[5, "Dana"], [5, "Dana"], [9, "Sam"]]);
  assert.equal(s.missing.size, 0); // 44 is a conversation this agent does not list
  const before = JSON.stringify([...s.conversations.entries()]);
  s.apply("2-0", { type: "contact.merged", survivor_id: 5, merged_id: 6, conversation_ids: [2] }, Date.now(), true);
  assert.equal(JSON.stringify([...s.conversations.entries()]), before); // idempotent
});

test("contact.merged into a survivor whose name is not known: the rows are refetched", () => {
  const s = store();
  s.loadLists([{ conversations: [conv(1, { contact_id: 5, contact_name: "" }), conv(2, { contact_id: 6, contact_name: "Dana" })], last_event_id: "1-0" }]);
  s.receive("2-0", { type: "contact.merged", survivor_id: 5, merged_id: 6, conversation_ids: [2] });
  assert.equal(s.conversations.get(2).contact_id, 5);
  assert.deepEqual([...s.missing].sort(), [1, 2]); // the nameless survivor takes "Dana"
  s.upsertConversation(conv(1, { contact_id: 5, contact_name: "Dana" }), "3-0");
  s.upsertConversation(conv(2, { contact_id: 5, contact_name: "Dana" }), "3-0");
  assert.equal(s.missing.size, 0);
  assert.equal(s.conversations.get(1).contact_name, "Dana");
});

test("contact.split: moved rows take the new contact id at once and are refetched for its name", () => {
  const s = store();
  s.loadLists([{ conversations: [conv(1, { contact_id: 5, contact_name: "Dana" }), conv(2, { contact_id: 5, contact_name: "Dana" })], last_event_id: "1-0" }]);
  s.receive("2-0", { type: "contact.split", contact_id: 5, new_contact_id: 8, conversation_ids: [2] });
  assert.equal(s.conversations.get(1).contact_id, 5);
  assert.equal(s.conversations.get(2).contact_id, 8);
  assert.deepEqual([...s.missing], [2]);
  // A split older than the row's snapshot changes nothing.
  s.loadLists([{ conversations: [conv(2, { contact_id: 8, contact_name: "Not Dana" })], last_event_id: "5-0" }]);
  s.missing.clear();
  s.apply("4-0", { type: "contact.split", contact_id: 8, new_contact_id: 9, conversation_ids: [2] }, Date.now(), true);
  assert.equal(s.conversations.get(2).contact_id, 8);
  assert.equal(s.missing.size, 0);
  // main's fetch lands: the row gets the new contact's name.
  s.receive("6-0", { type: "contact.split", contact_id: 8, new_contact_id: 9, conversation_ids: [2] });
  s.upsertConversation(conv(2, { contact_id: 9, contact_name: "Someone" }), "7-0");
  assert.equal(s.conversations.get(2).contact_name, "Someone");
  assert.equal(s.missing.size, 0);
});

test("pending replies: acked, then settled by their message (provider id or message id)", () => {
  const s = store();
  s.loadLists([{ conversations: [conv(1)], last_event_id: "1-0" }]);
  s.select(1);
  s.loadConversation({ conversation: conv(1), messages: [], last_event_id: "1-0" });
  s.addPending({ client_id: "c-1", conversation_id: 1, text: "hello" });
  s.addPending({ client_id: "c-2", conversation_id: 1, text: "again" });
  assert.deepEqual(s.currentPending().map((p) => p.state), ["pending", "pending"]);
  s.ack("c-1", 501);
  assert.equal(s.pending.get("c-1").state, "acked");
  s.receive("2-0", created(msg(501, 1, { direction: "out", provider_id: "agent:7:c-1" })));
  assert.equal(s.pending.has("c-1"), false);
  s.fail("c-2", "too long");
  assert.equal(s.pending.get("c-2").state, "failed");
  assert.equal(s.pending.get("c-2").error, "too long");
  s.ack("c-2", 502);
  s.upsertRestMessage(msg(502, 1, { direction: "out" })); // the REST fallback's answer
  assert.equal(s.pending.has("c-2"), false);
  assert.deepEqual(s.currentPending(), []);
});

test("filters: mine, unassigned, all; newest first", () => {
  const s = store();
  s.loadLists([{
    conversations: [
      conv(1, { assignee_id: 7, last_message_at: "2026-03-12T10:00:00Z" }),
      conv(2, { last_message_at: "2026-03-12T11:00:00Z" }),
      conv(3, { assignee_id: 9, status: "resolved", last_message_at: "2026-03-12T12:00:00Z" }),
    ],
    last_event_id: "1-0",
  }]);
  assert.deepEqual(s.list({ assignee: "mine", status: "open" }).map((c) => c.id), [1]);
  assert.deepEqual(s.list({ assignee: "unassigned", status: "open" }).map((c) => c.id), [2]);
  assert.deepEqual(s.list({ assignee: "all", status: "all" }).map((c) => c.id), [3, 2, 1]);
  assert.equal(s.count("all"), 2); // the current filter's status (open)
});

test("typing: shown for the customer until the TTL or their message, never for myself", () => {
  const s = store();
  s.loadLists([{ conversations: [conv(1)], last_event_id: "1-0" }]);
  s.select(1);
  s.loadConversation({ conversation: conv(1), messages: [], last_event_id: "1-0" });
  s.receive("2-0", { type: "typing", conversation_id: 1, on: true, author: { kind: "contact", name: "Jo" } });
  assert.equal(s.typingFor(1).name, "Jo");
  s.receive("3-0", created(msg(5, 1)));
  assert.equal(s.typingFor(1), null);
  s.receive("4-0", { type: "typing", conversation_id: 1, on: true, author: { kind: "agent", agent_id: 7 } });
  assert.equal(s.typingFor(1), null);
  s.receive("5-0", { type: "typing", conversation_id: 1, on: true, author: { kind: "contact" } }, Date.now() - 60000);
  assert.equal(s.typingFor(1), null); // a stale replayed typing event shows nothing
});

test("the event buffer is bounded", () => {
  const s = store();
  for (let i = 1; i <= 2100; i += 1) s.receive(`${i}-0`, { type: "queue.stats", queue: "q", depth: i });
  assert.equal(s.buffer.length, 2000);
  assert.equal(s.buffer[0].id, "101-0");
  assert.equal(s.queues.get("q").depth, 2100);
});

test("listItem accepts {conversation, last_message} and flat conversations", () => {
  assert.deepEqual(listItem({ conversation: conv(1), last_message: msg(3, 1) }).last_message.id, 3);
  assert.equal(listItem(conv(2)).id, 2);
});
