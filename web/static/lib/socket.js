// @ts-check
// The one reconnecting websocket for the hub protocol (docs/realtime-protocol.md), used by
// the inbox (`/ws/agent`) and the widget (`/ws/widget`, bundled into widget.js).
//
// - reconnects with exponential backoff and jitter (a random delay in [cap/2, cap], cap
//   0.5 s doubling to 30 s); the attempt counter resets on `hello`;
// - resumes with `?last_id=` (the id of the last event frame received), so the server
//   replays exactly the gap; a `reload` frame moves it to the tail `hello` announced;
// - pings every 20 s; if nothing at all arrives within 10 s after a ping the socket is
//   considered dead and replaced;
// - close 1008 (refused) stops, unless `onRefused` asks for one immediate retry;
//   1003/1009 (our frame was refused: a client bug) retry at the maximum delay; every
//   other close (1000, 1006, 1011, 1012, 1013, 4xxx) retries with backoff.

import { maxStreamId } from "./stream-id.js";

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 30000;
export const PING_MS = 20000;
export const PONG_TIMEOUT_MS = 10000;

/**
 * The delay before reconnect attempt number `attempt` (0 = first retry).
 * @param {number} attempt
 * @param {() => number} [random] uniform in [0, 1)
 * @returns {number} ms
 */
export function backoffDelay(attempt, random = Math.random) {
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(Math.max(0, attempt), 16));
  return Math.round(cap / 2 + random() * (cap / 2));
}

/** @typedef {"refused" | "slow" | "retry"} CloseAction */

/**
 * What a close code means for the client.
 * @param {number} code
 * @returns {CloseAction}
 */
export function closeAction(code) {
  if (code === 1008) return "refused";
  if (code === 1003 || code === 1009) return "slow";
  return "retry";
}

/** @typedef {"idle" | "connecting" | "online" | "offline" | "refused"} SocketStatus */

/**
 * @typedef {object} SocketHandlers
 * @property {(hello: any, resumed: boolean) => void} [onHello] every `hello` (after each connect)
 * @property {(id: string, event: any) => void} [onEvent] every `event` frame
 * @property {(frame: any) => void} [onFrame] every other frame (ack, error, reload, pong, …)
 * @property {(status: SocketStatus, socket: HubSocket) => void} [onStatus]
 * @property {(reason: string) => boolean | void} [onRefused] close 1008; return true to retry once at once
 * @property {(code: number, reason: string) => void} [onClose] any other close, before the retry is scheduled
 * @property {() => void} [onTick] every ping interval while connected (resend watchdogs)
 */

/**
 * @typedef {object} SocketOptions
 * @property {typeof WebSocket} [WebSocket] the constructor (tests pass a fake)
 * @property {() => number} [random] jitter source
 */

export class HubSocket {
  /**
   * @param {string | (() => string)} target a path on this origin ("/ws/agent", resumed with
   *   `?last_id=`) or a function building the full URL for each connect (the widget's)
   * @param {SocketHandlers} handlers
   * @param {SocketOptions} [options]
   */
  constructor(target, handlers, options = {}) {
    this.target = target;
    this.h = handlers;
    this.WS = options.WebSocket || globalThis.WebSocket;
    this.random = options.random || Math.random;
    /** @type {string | null} id of the last event frame received */
    this.lastId = null;
    /** @type {WebSocket | null} */
    this.ws = null;
    this.attempt = 0;
    /** @type {ReturnType<typeof setTimeout> | 0} */
    this.timer = 0;
    /** @type {ReturnType<typeof setInterval> | 0} */
    this.pingTimer = 0;
    /** @type {ReturnType<typeof setTimeout> | 0} */
    this.pongTimer = 0;
    this.stopped = false;
    this.ready = false; // hello received on the current socket
    /** @type {SocketStatus} */
    this.status = "idle";
    this.nextRetryAt = 0;
    /** @type {string | null} where the live stream continues (hello.last_id) */
    this.helloTail = null;
  }

  /** @returns {string} */
  url() {
    if (typeof this.target === "function") return this.target();
    const base = location.origin.replace(/^http/, "ws") + this.target;
    return this.lastId ? `${base}?last_id=${encodeURIComponent(this.lastId)}` : base;
  }

  /** @param {SocketStatus} s */
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
    /** @type {WebSocket} */
    let ws;
    try {
      ws = new this.WS(this.url());
    } catch (e) {
      console.error("[omnihub] websocket", e);
      this.retry(false);
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
      if (f && typeof f === "object") this.onFrame(f);
    };
    ws.onclose = (e) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.ready = false;
      this.stopPing();
      this.onClosed(e.code, e.reason || "");
    };
    ws.onerror = () => { /* onclose follows with the details */ };
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  onClosed(code, reason) {
    const action = closeAction(code);
    if (action === "refused") {
      const again = this.h.onRefused ? this.h.onRefused(reason) === true : false;
      if (again && !this.stopped) {
        this.connect();
        return;
      }
      this.stopped = true;
      this.setStatus("refused");
      return;
    }
    if (this.h.onClose) this.h.onClose(code, reason);
    this.retry(action === "slow");
  }

  /** @param {any} f */
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
      // the tail it announced in hello; the caller refetches its state.
      this.lastId = this.helloTail || null;
    }
    if (this.h.onFrame) this.h.onFrame(f);
  }

  /**
   * Schedule the next connect (unless stopped or already scheduled).
   * @param {boolean} slow wait the maximum delay
   */
  retry(slow) {
    if (this.stopped || this.timer) {
      if (this.stopped) this.setStatus("offline");
      return;
    }
    const delay = slow ? BACKOFF_MAX_MS : backoffDelay(this.attempt, this.random);
    this.attempt += 1;
    this.nextRetryAt = Date.now() + delay;
    this.setStatus("offline");
    this.timer = setTimeout(() => {
      this.timer = 0;
      this.connect();
    }, delay);
  }

  /** Reconnect now if not connected (the browser came back online, the tab is visible). */
  kick() {
    if (this.stopped) return;
    this.attempt = 0;
    if (!this.ws) this.connect();
  }

  /**
   * Send a frame once `hello` arrived on an open socket.
   * @param {object} obj
   * @returns {boolean} false when it could not be sent (the caller keeps it for later)
   */
  send(obj) {
    if (!this.ws || !this.ready || this.ws.readyState !== 1 /* OPEN */) return false;
    try {
      this.ws.send(JSON.stringify(obj));
      return true;
    } catch (_) {
      return false;
    }
  }

  /**
   * Drop the current socket; the next one resumes from lastId.
   * @param {number} [code]
   * @param {string} [reason]
   */
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

  /** Leave pause(): reconnect now if not connected. */
  resume() {
    this.stopped = false;
    this.kick();
  }

  /** Leave pause() and replace the current socket, if any, with a fresh one now. */
  restart() {
    this.stopped = false;
    this.attempt = 0;
    if (this.ws) this.drop(4002, "client reconnect");
    else this.connect();
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = 0;
    this.stopPing();
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
  }

  startPing() {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (this.send({ type: "ping" })) this.armPong(true);
      if (this.h.onTick) this.h.onTick();
    }, PING_MS);
  }

  stopPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = 0;
    this.pongTimer = 0;
  }

  /** @param {boolean} on after a ping: any frame proves the socket alive, silence kills it */
  armPong(on) {
    clearTimeout(this.pongTimer);
    this.pongTimer = 0;
    if (on) this.pongTimer = setTimeout(() => this.drop(4001, "pong timeout"), PONG_TIMEOUT_MS);
  }

  /**
   * Reconnect at once when the browser comes back online or the tab becomes visible, and
   * drop the socket when the browser reports the network gone (instead of waiting for the
   * ping watchdog; the widget only). Call once per page.
   * @param {{dropWhenOffline?: boolean, onBrowserOffline?: () => void}} [opts]
   *   `onBrowserOffline`: called when offline is reported while no socket is open
   */
  followBrowser({ dropWhenOffline = false, onBrowserOffline } = {}) {
    window.addEventListener("online", () => this.kick());
    if (dropWhenOffline) {
      window.addEventListener("offline", () => {
        if (this.ws) this.drop(4004, "browser offline");
        else if (onBrowserOffline) onBrowserOffline();
      });
    }
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.kick();
    });
  }
}
