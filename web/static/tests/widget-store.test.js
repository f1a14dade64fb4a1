// The widget's pure state (src/widget/store.js): idempotent events, resume positions,
// the outbox with stable client ids, a different visitor's cache dropped.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  REMOTE_TYPING_TTL_MS, applyAck, applyEvent, applyHello, persisted, restoreState, sortedMessages,
} from "../src/widget/store.js";

const out = (id, fields = {}) => ({ id, conversation_id: 1, direction: "out", text: `a${id}`, author: { kind: "agent", name: "Ada" }, ...fields });
const inc = (id, clientId, fields = {}) => ({ id, conversation_id: 1, direction: "in", text: `v${id}`, provider_id: `visitor:abc:${clientId}`, ...fields });
const created = (m) => ({ type: "message.created", message: m });
const queued = (state, client_id, text = "hi") =>
  state.outbox.push({ client_id, text, created_at: "2026-03-12T10:00:00Z", sentAt: 0 });

test("a fresh visitor: the hello's snapshot is the state and its last_id the position", () => {
  const s = restoreState(null);
  applyHello(s, { visitor_token: "tok", last_id: "10-0", conversation_id: 1, messages: [out(2), out(1)], inbox: { name: "Shop", greeting: "Hi!" } });
  assert.deepEqual(sortedMessages(s).map((m) => m.id), [1, 2]);
  assert.equal(s.lastId, "10-0");
  assert.equal(s.token, "tok");
  assert.equal(s.inboxName, "Shop");
});

test("events: applied once, in stream order; replays and older ids change nothing", () => {
  const s = restoreState(null);
  applyHello(s, { visitor_token: "tok", last_id: "10-0", conversation_id: 1, messages: [] });
  applyEvent(s, "11-0", created(out(5)));
  applyEvent(s, "12-0", { type: "message.status", message_id: 5, status: "read" });
  const before = JSON.stringify(persisted(s, 200));
  applyEvent(s, "11-0", created(out(5, { text: "changed" }))); // replayed
  applyEvent(s, "9-0", { type: "conversation.status", conversation_id: 1, status: "resolved" }); // older
  assert.equal(JSON.stringify(persisted(s, 200)), before);
  assert.equal(s.messages.get(5).status, "read");
  assert.equal(s.unread, 1); // a new agent message while closed
  assert.equal(s.lastId, "12-0");
});

test("resuming: a hello without messages keeps our messages and our position", () => {
  const s = restoreState({ v: 1, token: "tok", last_id: "20-0", conversation_id: 1, messages: [out(1)], outbox: [] });
  applyHello(s, { visitor_token: "tok", last_id: "25-0", conversation_id: 1, messages: null });
  assert.equal(s.lastId, "20-0"); // the gap follows as events
  assert.deepEqual(sortedMessages(s).map((m) => m.id), [1]);
  applyHello(s, { visitor_token: "tok", last_id: "30-0", conversation_id: 1, reset: true, messages: [out(3)] });
  assert.equal(s.lastId, "30-0"); // the gap expired: the snapshot replaces everything
  assert.deepEqual(sortedMessages(s).map((m) => m.id), [3]);
});

test("a cached last_id without its messages is not trusted", () => {
  assert.equal(restoreState({ v: 1, token: "t", last_id: "5-0" }).lastId, null);
  assert.equal(restoreState({ v: 1, token: "t", last_id: "5-0", messages: [] }).lastId, "5-0");
});

test("another visitor's token drops the cache", () => {
  const s = restoreState({ v: 1, token: "old", last_id: "20-0", conversation_id: 1, messages: [out(1)], away_email_left: true });
  s.acked.set("c", { client_id: "c", text: "x", created_at: "" });
  applyHello(s, { visitor_token: "new", last_id: "50-0", conversation_id: null, messages: null });
  assert.equal(s.messages.size, 0);
  assert.equal(s.acked.size, 0);
  assert.equal(s.awayEmailLeft, false);
  assert.equal(s.lastId, "50-0");
  assert.equal(s.token, "new");
});

test("outbox: ack moves it to 'sent'; its stored message settles it by client_id", () => {
  const s = restoreState(null);
  applyHello(s, { visitor_token: "tok", last_id: "1-0", conversation_id: 1, messages: [] });
  queued(s, "c-1");
  queued(s, "c-2");
  assert.equal(applyAck(s, "c-1"), true);
  assert.deepEqual(s.outbox.map((o) => o.client_id), ["c-2"]);
  assert.ok(s.acked.has("c-1"));
  assert.equal(applyAck(s, "c-1"), false); // a repeated ack is harmless
  applyEvent(s, "2-0", created(inc(7, "c-1")));
  assert.equal(s.acked.has("c-1"), false);
  applyEvent(s, "3-0", created(inc(8, "c-2"))); // stored before its ack arrived
  assert.deepEqual(s.outbox, []);
  assert.equal(applyAck(s, "c-2"), false);
  assert.equal(s.acked.has("c-2"), false);
  assert.equal(s.unread, 0); // the visitor's own messages are not unread
});

test("persisted: failed entries stay out; a reload resends the rest with the same client_id", () => {
  const s = restoreState(null);
  queued(s, "keep", "hello");
  queued(s, "bad", "nope");
  s.outbox[1].failed = true;
  s.outbox[0].sentAt = 12345;
  const again = restoreState(JSON.parse(JSON.stringify(persisted(s, 200))));
  assert.deepEqual(again.outbox, [{ client_id: "keep", text: "hello", created_at: "2026-03-12T10:00:00Z", sentAt: 0 }]);
});

test("persisted keeps only the newest messages", () => {
  const s = restoreState(null);
  applyHello(s, { visitor_token: "t", last_id: "1-0", conversation_id: 1, messages: [1, 2, 3, 4, 5].map((i) => out(i)) });
  assert.deepEqual(persisted(s, 2).messages.map((m) => m.id), [4, 5]);
});

test("private notes never reach the widget's state", () => {
  const s = restoreState(null);
  applyEvent(s, "2-0", created(out(9, { private: true })));
  assert.equal(s.messages.size, 0);
});

test("typing: an agent's shows until the TTL, the visitor's own is ignored, their message clears it", () => {
  const s = restoreState(null);
  const todo = applyEvent(s, "2-0", { type: "typing", on: true, author: { kind: "agent", name: "Ada" } }, 1000);
  assert.deepEqual(todo, { typing: true });
  assert.deepEqual(s.agentTyping, { name: "Ada", until: 1000 + REMOTE_TYPING_TTL_MS });
  applyEvent(s, "3-0", { type: "typing", on: true, author: { kind: "contact" } }, 2000);
  assert.equal(s.agentTyping.name, "Ada");
  applyEvent(s, "4-0", created(out(3)));
  assert.equal(s.agentTyping, null);
});

test("verification events are handed back to the code box", () => {
  const s = restoreState(null);
  const ev = { type: "verification.updated", verification_id: 4, status: "sent" };
  assert.deepEqual(applyEvent(s, "2-0", ev), { verification: ev });
  assert.deepEqual(applyHello(s, { visitor_token: "t", verification: ev }), { verification: ev });
});

test("conversation status follows the open conversation; a new one starts open", () => {
  const s = restoreState(null);
  applyHello(s, { visitor_token: "t", last_id: "1-0", conversation_id: 1, messages: [] });
  applyEvent(s, "2-0", { type: "conversation.status", conversation_id: 1, status: "resolved" });
  assert.equal(s.conversationStatus, "resolved");
  applyEvent(s, "3-0", { type: "conversation.status", conversation_id: 99, status: "open" });
  assert.equal(s.conversationStatus, "resolved");
  applyEvent(s, "4-0", { type: "conversation.created", conversation: { id: 2, status: "open" } });
  assert.equal(s.conversationId, 2);
  assert.equal(s.conversationStatus, "open");
});
