// A reconnecting websocket for the hub protocol (docs/realtime-protocol.md).
//
// - reconnects with exponential backoff and full jitter, resuming with `?last_id=` (the id of
//   the last event frame received), so the server replays exactly the gap;
// - pings every 20 s; if nothing at all arrives within 10 s after a ping the socket is
//   considered dead and replaced;
// - close 1008 (refused handshake) stops reconnecting and reports `refused`;
//   1011 / 1012 / 1013 / abnormal closes reconnect.

import { maxStreamId } from "./inbox-store.js";

const BASE_MS = 500;
const MAX_MS = 30000;
const PING_MS = 20000;
const PONG_TIMEOUT_MS = 10000;

export class HubSocket {
  /**
   * @param {string} path e.g. "/ws/agent"
   * @param {{onHello?, onEvent?, onFrame?, onStatus?, onRefused?}} handlers
   */
  constructor(path, handlers) {
    this.path = path;
    this.h = handlers;
    this.lastId = null;
    this.ws = null;
    this.attempt = 0;
    this.timer = 0;
    this.pingTimer = 0;
    this.pongTimer = 0;
    this.stopped = false;
    this.ready = false; // hello received on the current socket
    this.status = "idle";
    this.nextRetryAt = 0;
    this.helloTail = null;
  }

  url() {
    const base = location.origin.replace(/^http/, "ws") + this.path;
    return this.lastId ? `${base}?last_id=${encodeURIComponent(this.lastId)}` : base;
  }

  setStatus(s) {
    this.status = s;
    if (this.h.onStatus) this.h.onStatus(s, this);
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.ws) return;
    this.setStatus("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch (e) {
      console.error("[omnihub] websocket", e);
      this.retry();
      return;
    }
    this.ws = ws;
    this.ready = false;
    ws.onmessage = (e) => {
      if (ws !== this.ws) return;
      this.armPong(false);
      let f;
      try {
        f = JSON.parse(e.data);
      } catch (_) {
        return;
      }
      this.onFrame(f);
    };
    ws.onclose = (e) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.ready = false;
      this.stopPing();
      if (e.code === 1008) {
        this.stopped = true;
        this.setStatus("refused");
        if (this.h.onRefused) this.h.onRefused(e.reason);
        return;
      }
      this.retry();
    };
  }

  onFrame(f) {
    if (f.type === "hello") {
      this.ready = true;
      this.attempt = 0;
      const resumed = !!this.lastId;
      this.helloTail = f.last_id || null;
      if (!this.lastId) this.lastId = this.helloTail;
      this.setStatus("online");
      this.startPing();
      if (this.h.onHello) this.h.onHello(f, resumed);
      return;
    }
    if (f.type === "event") {
      if (f.id) this.lastId = this.lastId ? maxStreamId(this.lastId, f.id) : f.id;
      if (this.h.onEvent) this.h.onEvent(f.id, f.event);
      return;
    }
    if (f.type === "reload") {
      // Our last_id is older than the stream's retention: the server continues live from
      // the tail it announced in hello; the caller refetches its state from REST.
      this.lastId = this.helloTail || null;
    }
    if (this.h.onFrame) this.h.onFrame(f);
  }

  retry() {
    if (this.stopped || this.timer) return;
    const cap = Math.min(MAX_MS, BASE_MS * 2 ** Math.min(this.attempt, 16));
    const delay = Math.round(cap / 2 + Math.random() * (cap / 2));
    this.attempt += 1;
    this.nextRetryAt = Date.now() + delay;
    this.setStatus("offline");
    this.timer = setTimeout(() => {
      this.timer = 0;
      this.connect();
    }, delay);
  }

  /** Reconnect now (e.g. the browser came back online). */
  kick() {
    if (this.stopped) return;
    this.attempt = 0;
    if (!this.ws) this.connect();
  }

  send(obj) {
    if (!this.ws || !this.ready || this.ws.readyState !== WebSocket.OPEN) return false;
    try {
      this.ws.send(JSON.stringify(obj));
      return true;
    } catch (_) {
      return false;
    }
  }

  /** Drop the current socket (the next one resumes from lastId). */
  drop(code = 4000, reason = "client reconnect") {
    if (this.ws) this.ws.close(code, reason);
  }

  /** Go offline until resume() (tests: simulate a network loss). */
  pause() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.ws) this.ws.close(4003, "paused");
    this.setStatus("offline");
  }

  resume() {
    this.stopped = false;
    this.kick();
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stopPing();
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
  }

  startPing() {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (this.send({ type: "ping" })) this.armPong(true);
    }, PING_MS);
  }

  stopPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = 0;
    this.pongTimer = 0;
  }

  armPong(on) {
    clearTimeout(this.pongTimer);
    this.pongTimer = 0;
    if (on) this.pongTimer = setTimeout(() => this.drop(4001, "pong timeout"), PONG_TIMEOUT_MS);
  }
}
