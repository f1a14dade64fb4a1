// Stream ids compare numerically, never as strings; client ids come from provider ids.
import assert from "node:assert/strict";
import { test } from "node:test";
import { clientIdOf, cmpStreamId, maxStreamId, minStreamId, uuid } from "../lib/stream-id.js";

test("stream ids compare by milliseconds, then sequence, as numbers", () => {
  assert.equal(cmpStreamId("9-0", "10-0"), -1); // as strings "9-0" > "10-0"
  assert.equal(cmpStreamId("10-2", "10-10"), -1);
  assert.equal(cmpStreamId("10-1", "10-1"), 0);
  assert.equal(cmpStreamId("1700000000000-5", "1700000000000-4"), 1);
  assert.equal(cmpStreamId("12", "12-0"), 0); // a missing sequence is 0
});

test("a missing id sorts first; min ignores it, max prefers the other", () => {
  assert.equal(cmpStreamId(null, "1-0"), -1);
  assert.equal(cmpStreamId("1-0", undefined), 1);
  assert.equal(maxStreamId("5-0", "12-0"), "12-0");
  assert.equal(minStreamId(null, "5-0"), "5-0");
  assert.equal(minStreamId("5-0", null), "5-0");
  assert.equal(minStreamId("12-0", "5-1"), "5-1");
});

test("garbage ids do not throw", () => {
  assert.equal(typeof cmpStreamId("abc", "1-0"), "number");
});

test("the client id is the last ':' part of a namespaced provider id", () => {
  assert.equal(clientIdOf("visitor:abc:1b4e28ba-2fa1-11d2-883f-0016d3cca427"), "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
  assert.equal(clientIdOf("agent:7:x"), "x");
  assert.equal(clientIdOf(null), "");
  assert.equal(clientIdOf(""), "");
});

test("uuid is a v4 UUID", () => {
  assert.match(uuid(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(uuid(), uuid());
});
