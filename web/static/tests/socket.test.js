// The kernel socket against a fake WebSocket and mocked timers: backoff, resume with
// last_id, refusal, slow retry, ping watchdog. No network, no DOM.
import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";
import {
  BACKOFF_BASE_MS, BACKOFF_MAX_MS, PING_MS, PONG_TIMEOUT_MS, HubSocket, backoffDelay, closeAction,
} from "../lib/socket.js";

class FakeWS {
  /** @type {FakeWS[]} */
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeWS.all.push(this);
  }
  /** the server accepts and says hello */
  hello(extra = {}) {
    this.readyState = 1;
    this.frame({ type: "hello", ...extra });
  }
  frame(obj) {
    this.onmessage({ data: JSON.stringify(obj) });
  }
  send(text) {
    this.sent.push(JSON.parse(text));
  }
  close(code = 1005, reason = "") {
    this.closedWith = [code, reason];
    this.serverClose(code, reason);
  }
  serverClose(code, reason = "") {
    this.readyState = 3;
    if (this.onclose) this.onclose({ code, reason });
  }
}

const last = () => FakeWS.all[FakeWS.all.length - 1];

/** A socket whose URL carries its lastId, recording statuses and callbacks. */
function make(handlers = {}, random = () => 0.5) {
  const log = { statuses: [], events: [], frames: [], hellos: [] };
  const sock = new HubSocket(() => `ws://hub/ws/test${sock.lastId ? `?last_id=${sock.lastId}` : ""}`, {
    onStatus: (s) => log.statuses.push(s),
    onEvent: (id, ev) => log.events.push([id, ev]),
    onFrame: (f) => log.frames.push(f),
    onHello: (h, resumed) => log.hellos.push([h, resumed]),
    ...handlers,
  }, { WebSocket: /** @type {any} */ (FakeWS), random });
  return { sock, log };
}

beforeEach(() => {
  FakeWS.all = [];
  mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"] });
});
afterEach(() => mock.timers.reset());

test("backoff: jitter within [cap/2, cap], doubling from 0.5 s, capped at 30 s", () => {
  assert.equal(backoffDelay(0, () => 0), BACKOFF_BASE_MS / 2);
  assert.equal(backoffDelay(0, () => 0.999999), BACKOFF_BASE_MS);
  assert.equal(backoffDelay(3, () => 0), (BACKOFF_BASE_MS * 8) / 2);
  for (let attempt = 0; attempt < 40; attempt += 1) {
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
    for (const r of [0, 0.3, 0.999]) {
      const d = backoffDelay(attempt, () => r);
      assert.ok(d >= cap / 2 && d <= cap, `attempt ${attempt}: ${d} not in [${cap / 2}, ${cap}]`);
    }
  }
  assert.equal(backoffDelay(1000, () => 0.999999), BACKOFF_MAX_MS);
  assert.equal(backoffDelay(-5, () => 0), BACKOFF_BASE_MS / 2);
});

test("close codes: 1008 refused, 1003/1009 slow, everything else retries", () => {
  assert.equal(closeAction(1008), "refused");
  assert.equal(closeAction(1003), "slow");
  assert.equal(closeAction(1009), "slow");
  for (const code of [1000, 1006, 1011, 1012, 1013, 4000, 4001]) assert.equal(closeAction(code), "retry");
});

test("resume: every reconnect carries the last event id received", () => {
  const { sock, log } = make();
  sock.connect();
  assert.equal(last().url, "ws://hub/ws/test");
  last().hello({ last_id: "100-0" });
  assert.deepEqual(log.hellos.map(([, resumed]) => resumed), [false]);
  assert.equal(sock.lastId, "100-0"); // no position yet: continue from the hello's tail
  last().frame({ type: "event", id: "101-0", event: { type: "x" } });
  last().frame({ type: "event", id: "99-0", event: { type: "old" } }); // never moves backwards
  assert.equal(sock.lastId, "101-0");
  assert.equal(log.events.length, 2);

  last().serverClose(1006);
  assert.equal(sock.status, "offline");
  assert.equal(FakeWS.all.length, 1);
  mock.timers.tick(backoffDelay(0, () => 0.5));
  assert.equal(FakeWS.all.length, 2);
  assert.equal(last().url, "ws://hub/ws/test?last_id=101-0");
  last().hello({ last_id: "105-0" });
  assert.deepEqual(log.hellos.map(([, resumed]) => resumed), [false, true]);
  assert.equal(sock.lastId, "101-0"); // the gap follows as events: our position stays
});

test("the attempt counter grows while failing and resets on hello", () => {
  const { sock } = make({}, () => 0);
  sock.connect();
  for (let i = 0; i < 4; i += 1) {
    last().serverClose(1011);
    mock.timers.tick(backoffDelay(i, () => 0));
  }
  assert.equal(sock.attempt, 4);
  assert.equal(FakeWS.all.length, 5);
  last().hello({});
  assert.equal(sock.attempt, 0);
});

test("1008 stops for good unless onRefused asks for one immediate retry", () => {
  const reasons = [];
  let retryOnce = true;
  const { sock, log } = make({
    onRefused: (reason) => {
      reasons.push(reason);
      const again = retryOnce;
      retryOnce = false;
      return again;
    },
  });
  sock.connect();
  last().serverClose(1008, "origin not allowed");
  assert.equal(FakeWS.all.length, 2); // retried at once, no backoff
  last().serverClose(1008, "origin not allowed");
  assert.deepEqual(reasons, ["origin not allowed", "origin not allowed"]);
  assert.equal(sock.status, "refused");
  assert.equal(log.statuses.at(-1), "refused");
  mock.timers.tick(BACKOFF_MAX_MS * 2);
  assert.equal(FakeWS.all.length, 2);
  sock.kick(); // refused stays stopped
  assert.equal(FakeWS.all.length, 2);
});

test("1003 and 1009 (a frame we should not have sent) retry at the maximum delay", () => {
  const { sock } = make({}, () => 0);
  sock.connect();
  last().hello({});
  last().serverClose(1009);
  mock.timers.tick(BACKOFF_MAX_MS - 1);
  assert.equal(FakeWS.all.length, 1);
  mock.timers.tick(1);
  assert.equal(FakeWS.all.length, 2);
  assert.equal(sock.status, "connecting");
});

test("ping watchdog: silence after a ping replaces the socket; any frame keeps it", () => {
  let ticks = 0;
  const { sock } = make({ onTick: () => { ticks += 1; } });
  sock.connect();
  const first = last();
  first.hello({});
  mock.timers.tick(PING_MS);
  assert.deepEqual(first.sent, [{ type: "ping" }]);
  assert.equal(ticks, 1);
  first.frame({ type: "pong" });
  mock.timers.tick(PONG_TIMEOUT_MS);
  assert.equal(first.closedWith, null);
  mock.timers.tick(PING_MS - PONG_TIMEOUT_MS); // second ping, no answer
  mock.timers.tick(PONG_TIMEOUT_MS);
  assert.deepEqual(first.closedWith, [4001, "pong timeout"]);
  assert.equal(sock.status, "offline");
});

test("send refuses before hello and after close, so callers keep the frame", () => {
  const { sock } = make();
  sock.connect();
  assert.equal(sock.send({ type: "message" }), false);
  last().hello({});
  assert.equal(sock.send({ type: "message", text: "hi" }), true);
  last().serverClose(1012);
  assert.equal(sock.send({ type: "message" }), false);
});

test("a reload frame moves the position to the hello's tail and is passed on", () => {
  const { sock, log } = make();
  sock.lastId = "5-0";
  sock.connect();
  assert.equal(last().url, "ws://hub/ws/test?last_id=5-0");
  last().hello({ last_id: "900-0" });
  last().frame({ type: "reload", reason: "gap_expired" });
  assert.equal(sock.lastId, "900-0");
  assert.deepEqual(log.frames, [{ type: "reload", reason: "gap_expired" }]);
});

test("pause stays offline; resume and restart reconnect at once", () => {
  const { sock } = make();
  sock.connect();
  last().hello({});
  sock.pause();
  assert.equal(sock.status, "offline");
  mock.timers.tick(BACKOFF_MAX_MS * 2);
  assert.equal(FakeWS.all.length, 1);
  sock.resume();
  assert.equal(FakeWS.all.length, 2);
  last().hello({});
  sock.restart(); // replaces the open socket: closed now, reconnect after the first backoff
  assert.deepEqual(FakeWS.all[1].closedWith, [4002, "client reconnect"]);
  mock.timers.tick(BACKOFF_BASE_MS);
  assert.equal(FakeWS.all.length, 3);
});

test("frames from a replaced socket and junk frames are ignored", () => {
  const { sock, log } = make();
  sock.connect();
  const old = last();
  old.hello({});
  old.serverClose(1006);
  mock.timers.tick(BACKOFF_BASE_MS);
  old.onmessage({ data: JSON.stringify({ type: "event", id: "7-0", event: {} }) });
  last().onmessage({ data: "not json" });
  last().onmessage({ data: "42" });
  assert.equal(log.events.length, 0);
  assert.equal(sock.lastId, null);
});
