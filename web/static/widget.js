/*! omnihub chat widget — embed with ONE tag:
 *
 *   <script src="https://HUB/widget.js" data-inbox="web"
 *           data-user-email="…" data-user-hash="…"></script>
 *
 * Built from web/static/src/widget/ and web/static/lib/ by `make frontend` (esbuild);
 * do not edit widget.js by hand. Everything renders inside a Shadow DOM so the host
 * page's CSS cannot break it (and ours cannot leak out).
 *
 * Invariants (see docs/frontend.md):
 *  - events are applied idempotently: messages are upserted by id and shown ordered by id;
 *  - the last event id seen is persisted together with the rendered messages, so a reload or a
 *    reconnect resumes with `last_id` and receives exactly the gap;
 *  - a customer message lives in the outbox (localStorage) until the server `ack`s it, and is
 *    resent with the SAME client_id after every reconnect (the server dedupes on it);
 *  - a message is shown as pending until its `ack` or its `message.created`
 *    (its provider_id ends with ":" + client_id) arrives;
 *  - a new visitor whose hello carries `prechat` sees only the pre-chat form until it is
 *    accepted (its answers and first message go to POST /api/v1/widget/prechat together);
 *    `data-phone-region="DE"` on the tag sets the region for numbers without +<country>.
 */
"use strict";
(() => {
  // lib/dom.js
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === void 0 || v === null || v === false) continue;
        if (k === "class") node.className = String(v);
        else if (k === "text") node.textContent = String(v);
        else if (k.startsWith("on") && typeof v === "function") node.addEventListener(
          k.slice(2),
          /** @type {EventListener} */
          v
        );
        else node.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (const c of children.flat()) {
      if (c === null || c === void 0 || c === false) continue;
      node.append(typeof c === "number" ? String(c) : c);
    }
    return node;
  }

  // lib/format.js
  function toDate(v) {
    if (v === null || v === void 0 || v === "") return null;
    const d = v instanceof Date ? v : new Date(v);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  function clock(iso) {
    const d = iso ? toDate(iso) : /* @__PURE__ */ new Date();
    return d ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  }
  function codePoints(text) {
    let count = 0;
    for (const _ of text) count += 1;
    return count;
  }
  function textSize(text, max, { counterFrom = 0.8, frameBytes = 0 } = {}) {
    const count = codePoints(text);
    if (!max) return { count, near: false, reason: "" };
    let reason = "";
    if (count > max) {
      reason = `Too long: ${count.toLocaleString("en")} of at most ${max.toLocaleString("en")} characters.`;
    } else if (frameBytes && new TextEncoder().encode(JSON.stringify(text)).length > frameBytes - 1024) {
      reason = "Too long: this text is too large to send (many emoji or symbols); shorten it.";
    }
    return { count, near: count >= max * counterFrom, reason };
  }

  // lib/stream-id.js
  function cmpStreamId(a, b) {
    if (a === b) return 0;
    if (!a) return -1;
    if (!b) return 1;
    const [am, as = "0"] = String(a).split("-");
    const [bm, bs = "0"] = String(b).split("-");
    try {
      const d = BigInt(am) - BigInt(bm) || BigInt(as) - BigInt(bs);
      return d < 0n ? -1 : d > 0n ? 1 : 0;
    } catch (_) {
      return String(a) < String(b) ? -1 : 1;
    }
  }
  var maxStreamId = (a, b) => cmpStreamId(a, b) >= 0 ? a : b;
  function clientIdOf(providerId) {
    return providerId ? String(providerId).split(":").pop() || "" : "";
  }
  function uuid() {
    if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = b[6] & 15 | 64;
    b[8] = b[8] & 63 | 128;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // lib/socket.js
  var BACKOFF_BASE_MS = 500;
  var BACKOFF_MAX_MS = 3e4;
  var PING_MS = 2e4;
  var PONG_TIMEOUT_MS = 1e4;
  function backoffDelay(attempt, random = Math.random) {
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(Math.max(0, attempt), 16));
    return Math.round(cap / 2 + random() * (cap / 2));
  }
  function closeAction(code) {
    if (code === 1008) return "refused";
    if (code === 1003 || code === 1009) return "slow";
    return "retry";
  }
  var HubSocket = class {
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
      this.lastId = null;
      this.ws = null;
      this.attempt = 0;
      this.timer = 0;
      this.pingTimer = 0;
      this.pongTimer = 0;
      this.stopped = false;
      this.ready = false;
      this.status = "idle";
      this.nextRetryAt = 0;
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
      ws.onerror = () => {
      };
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
      if (!this.ws || !this.ready || this.ws.readyState !== 1) return false;
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
    drop(code = 4e3, reason = "client reconnect") {
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
      if (this.ws) this.ws.close(1e3, "bye");
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
  };

  // src/widget/callback.js
  function createCallback(w) {
    const { cfg, shadow, ui, openPanel } = w;
    const { HUB, VOICE_INBOX } = cfg;
    const KEY = `omnihub:callback:v1:${HUB}:${VOICE_INBOX}`;
    const LABELS = {
      received: "Request received. We will call you shortly.",
      requested: "You are in the queue. An agent will call you shortly.",
      offered: "An agent is about to call you.",
      dialing: "We are calling you now…",
      connected: "Connected with an agent.",
      completed: "Call completed. Thank you!",
      failed: "We could not reach you. You can ask for another call.",
      cancelled: "This callback was cancelled."
    };
    const FINAL = /* @__PURE__ */ new Set(["completed", "failed", "cancelled"]);
    let pollTimer = 0;
    const c = (
      /** @type {Callback} */
      {}
    );
    function load() {
      try {
        return JSON.parse(localStorage.getItem(KEY) || "null");
      } catch (_) {
        return null;
      }
    }
    function save(v) {
      try {
        v ? localStorage.setItem(KEY, JSON.stringify(v)) : localStorage.removeItem(KEY);
      } catch (_) {
      }
    }
    function pending() {
      const cur = load();
      return !!cur && !cur.final;
    }
    function show(mode) {
      c.form.hidden = mode !== "form";
      c.statusBox.hidden = mode !== "status";
      c.toggle.setAttribute("aria-expanded", String(mode === "form"));
    }
    function setStatus(status, reason) {
      c.statusText.textContent = LABELS[status] || status;
      c.statusBox.dataset.status = status;
      c.again.hidden = !FINAL.has(status);
      if (reason) c.statusText.textContent += ` ${reason}`;
    }
    async function poll() {
      const cur = load();
      if (!cur) return;
      try {
        const res = await fetch(`${HUB}/api/v1/callbacks/status/${encodeURIComponent(cur.id)}`, { cache: "no-store" });
        if (res.ok) {
          const s = await res.json();
          setStatus(s.status, s.reason || "");
          if (s.final) {
            save({ ...cur, final: true, status: s.status });
            return;
          }
        }
      } catch (_) {
      }
      pollTimer = setTimeout(poll, 2e3);
    }
    async function submit(e) {
      e.preventDefault();
      c.error.hidden = true;
      const id = uuid();
      c.submit.disabled = true;
      try {
        const res = await fetch(`${HUB}/api/v1/callbacks`, {
          method: "POST",
          headers: { "Content-Type": "text/plain" },
          body: JSON.stringify({
            inbox: VOICE_INBOX,
            phone: c.phone.value,
            topic: c.topic.value,
            request_id: id,
            language: (navigator.language || "").slice(0, 10)
          })
        });
        const data = await res.json().catch(() => ({}));
        if (!res.ok) throw new Error(data.reason || `HTTP ${res.status}`);
        save({ id, phone: data.phone });
        show("status");
        setStatus("received");
        clearTimeout(pollTimer);
        pollTimer = setTimeout(poll, 1e3);
      } catch (err) {
        c.error.textContent = /** @type {Error} */
        err.message;
        c.error.hidden = false;
      } finally {
        c.submit.disabled = false;
      }
    }
    c.build = () => {
      c.toggle = el("button", {
        type: "button",
        class: "cb-toggle",
        "data-testid": "callback-toggle",
        "aria-expanded": "false",
        text: "Call me back",
        onclick: () => show(c.form.hidden ? pending() ? "status" : "form" : "none")
      });
      c.phone = el("input", { type: "tel", autocomplete: "tel", required: true, placeholder: "+49 30 1234567", "aria-label": "Your phone number", "data-testid": "callback-phone" });
      c.topic = el("input", { type: "text", maxlength: 200, placeholder: "What is it about? (optional)", "aria-label": "Topic", "data-testid": "callback-topic" });
      c.error = el("div", { class: "err", role: "alert", "data-testid": "callback-error", hidden: true });
      c.submit = el("button", { type: "submit", class: "cb-submit", text: "Call me", "data-testid": "callback-submit" });
      c.form = el("form", { class: "cb-form", "data-testid": "callback-form", hidden: true }, c.phone, c.topic, c.error, c.submit);
      c.form.addEventListener("submit", submit);
      c.statusText = el("span", { "data-testid": "callback-status", role: "status" });
      c.again = el("button", { type: "button", class: "cb-link", text: "Ask for another call", hidden: true, onclick: () => {
        save(null);
        show("form");
      } });
      c.statusBox = el("div", { class: "cb-status", hidden: true }, c.statusText, c.again);
      shadow.append(el("style", { text: `
      .cb-bar { padding: 8px 14px; border-bottom: 1px solid #e5e7eb; background: #f8fafc; }
      .cb-toggle, .cb-submit { font: inherit; border: 1px solid var(--c); color: var(--c); background: #fff; border-radius: 8px; padding: 6px 10px; cursor: pointer; }
      .cb-submit { background: var(--c); color: #fff; }
      .cb-form { display: flex; flex-direction: column; gap: 6px; margin-top: 8px; }
      .cb-form input { font: inherit; padding: 7px 9px; border: 1px solid #d1d5db; border-radius: 8px; }
      .cb-status { margin-top: 8px; font-size: 14px; display: flex; flex-direction: column; gap: 4px; }
      .cb-link { font: inherit; border: 0; background: none; color: var(--c); text-decoration: underline; cursor: pointer; padding: 0; align-self: flex-start; }
    ` }));
      const bar = el("div", { class: "cb-bar" }, c.toggle, c.form, c.statusBox);
      ui.list.before(bar);
      const cur = load();
      if (cur && !cur.final) {
        show("status");
        setStatus("received");
        poll();
      } else if (cur && cur.final) {
        show("status");
        setStatus(cur.status || "");
      }
    };
    c.open = () => {
      openPanel();
      show(pending() ? "status" : "form");
      c.phone.focus();
    };
    return c;
  }

  // src/widget/prechat.js
  function createPrechat(w) {
    const { cfg, state, ui, shadow, persist, render, autosize, textSize: textSize2 } = w;
    const { HUB, INBOX, PHONE_REGION, USER_EMAIL } = cfg;
    const EMAIL = /^[^@\s<>"]{1,64}@[^@\s<>"]{1,255}$/;
    const PHONE = /^[+0-9 ()./-]{3,32}$/;
    const AWAY_TEXT = {
      outside_hours: "We're closed right now. Leave a message and your email and we'll get back to you.",
      no_agents_online: "We're away right now. Leave a message and your email and we'll get back to you."
    };
    const p = (
      /** @type {Prechat} */
      /** @type {unknown} */
      { specs: [], inputs: {}, errs: {}, builtFor: "", busy: false, clientId: null }
    );
    p.active = () => !!state.prechat;
    let adopted = "";
    p.adoptMessage = (text) => {
      adopted = adopted ? `${adopted}
${text}` : text;
      if (p.inputs.message && !p.inputs.message.value) p.inputs.message.value = adopted;
    };
    p.focus = () => {
      const first = p.specs.map((s) => p.inputs[s.key]).find(Boolean);
      if (first) first.focus();
    };
    function check(spec, input) {
      if (input.type === "checkbox") {
        if (spec.required && !/** @type {HTMLInputElement} */
        input.checked) return spec.key === "consent" ? "please agree to continue" : "must be checked";
        return "";
      }
      const v = input.value.trim();
      if (!v) return spec.required ? "required" : "";
      if (spec.type === "email" && !EMAIL.test(v)) return "not a valid email address (name@example.com)";
      if (spec.type === "phone" && !PHONE.test(v)) return "not a valid phone number";
      if (spec.key === "message") return textSize2(v).reason;
      return "";
    }
    function setError(key, reason) {
      const input = p.inputs[key];
      const err = p.errs[key];
      if (!input || !err) return false;
      err.textContent = reason || "";
      err.hidden = !reason;
      if (reason) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
      return true;
    }
    function showErrors(errors) {
      const other = [];
      for (const s of p.specs) setError(s.key, "");
      for (const [k, reason] of Object.entries(errors)) {
        if (!setError(k, reason)) other.push(`${k}: ${reason}`);
      }
      p.formErr.textContent = other.join(" · ");
      p.formErr.hidden = !other.length;
      const first = p.specs.find((s) => errors[s.key]);
      return first ? p.inputs[first.key] : null;
    }
    function fieldRow(spec) {
      const id = `oh-pc-${spec.key}`;
      const errId = `${id}-err`;
      const common = {
        id,
        name: spec.key,
        "aria-describedby": errId,
        "data-testid": `prechat-field-${spec.key}`,
        required: spec.required,
        "aria-required": spec.required ? "true" : null
      };
      let input;
      if (spec.type === "select") {
        input = el(
          "select",
          common,
          el("option", { value: "", text: "Choose…" }),
          ...(spec.options || []).map((o) => el("option", { value: o, text: o }))
        );
      } else if (spec.type === "checkbox") {
        input = el("input", { ...common, type: "checkbox" });
      } else if (spec.type === "message") {
        input = el("textarea", { ...common, rows: 3, placeholder: "How can we help?" });
      } else {
        const [type, auto] = spec.type === "email" ? ["email", "email"] : spec.type === "phone" ? ["tel", "tel"] : ["text", spec.key === "name" ? "name" : "off"];
        input = el("input", {
          ...common,
          type,
          autocomplete: auto,
          maxlength: spec.max_length || (spec.key === "name" ? 100 : 500),
          placeholder: spec.placeholder || (spec.type === "phone" ? "+49 30 1234567" : null)
        });
      }
      p.inputs[spec.key] = input;
      p.errs[spec.key] = el("div", { class: "pc-err", id: errId, "data-testid": `prechat-error-${spec.key}`, hidden: true });
      input.addEventListener("blur", () => setError(spec.key, check(spec, input)));
      input.addEventListener(spec.type === "checkbox" || spec.type === "select" ? "change" : "input", () => {
        if (input.getAttribute("aria-invalid")) setError(spec.key, check(spec, input));
      });
      const mark = spec.required ? el("span", { class: "req", "aria-hidden": "true", text: " *" }) : null;
      if (spec.type === "checkbox") {
        return el("div", { class: "pc-row pc-check" }, input, el("label", { for: id, text: spec.label }, mark), p.errs[spec.key]);
      }
      return el("div", { class: "pc-row" }, el("label", { for: id, text: spec.label }, mark), input, p.errs[spec.key]);
    }
    function build(form) {
      p.inputs = {};
      p.errs = {};
      p.specs = [...form.fields, { key: "message", label: "Your message", type: "message", required: true }];
      if (form.consent) p.specs.push({ key: "consent", label: form.consent.text, type: "checkbox", required: form.consent.required });
      p.formErr = el("div", { class: "pc-formerr", role: "alert", "data-testid": "prechat-form-error", hidden: true });
      p.submitBtn = el("button", { type: "submit", class: "pc-submit", "data-testid": "prechat-submit", text: "Start chat" });
      const away = state.availability && state.availability.online === false;
      const f = el(
        "form",
        { class: "pc", novalidate: true, "data-testid": "prechat-form", "aria-labelledby": "oh-pc-title" },
        el("h3", { id: "oh-pc-title", class: "pc-title", text: away ? "Leave us a message" : "Before we start" }),
        form.welcome ? el("p", { class: "pc-welcome", "data-testid": "prechat-welcome", text: form.welcome }) : null,
        ...p.specs.map(fieldRow),
        p.formErr,
        p.submitBtn,
        el("p", { class: "pc-note", text: "* required" })
      );
      f.addEventListener("submit", onSubmit);
      if (adopted) p.inputs.message.value = adopted;
      p.box.replaceChildren(f);
    }
    async function post(values, text, consent) {
      p.clientId = p.clientId || uuid();
      const body = { inbox: INBOX, token: state.token, values, client_id: p.clientId, text, region: PHONE_REGION };
      if (consent !== void 0) body.consent = consent;
      const res = await fetch(`${HUB}/api/v1/widget/prechat`, {
        method: "POST",
        headers: { "Content-Type": "text/plain" },
        body: JSON.stringify(body)
      });
      const data = await res.json().catch(() => ({}));
      return { ok: res.status === 202, status: res.status, data };
    }
    function accepted(text) {
      const id = (
        /** @type {string} */
        p.clientId
      );
      p.clientId = null;
      adopted = "";
      state.acked.set(id, { client_id: id, text, created_at: (/* @__PURE__ */ new Date()).toISOString() });
      state.prechat = null;
      persist();
      render(true);
    }
    async function onSubmit(e) {
      e.preventDefault();
      if (p.busy) return;
      const errors = {};
      for (const s of p.specs) {
        const reason = check(s, p.inputs[s.key]);
        if (reason) errors[s.key] = reason;
      }
      const bad = showErrors(errors);
      if (bad) {
        bad.focus();
        return;
      }
      if (!state.token) {
        showErrors({ form: "still connecting, please try again in a moment" });
        return;
      }
      const values = {};
      for (const s of p.specs) {
        if (s.key === "message" || s.key === "consent") continue;
        const input = p.inputs[s.key];
        values[s.key] = input.type === "checkbox" ? (
          /** @type {HTMLInputElement} */
          input.checked
        ) : input.value;
      }
      const text = p.inputs.message.value.trim();
      p.busy = true;
      p.submitBtn.disabled = true;
      try {
        const r = await post(values, text, p.inputs.consent ? (
          /** @type {HTMLInputElement} */
          p.inputs.consent.checked
        ) : void 0);
        if (r.ok) {
          accepted(text);
          setTimeout(() => ui.input.focus(), 0);
          return;
        }
        const first = showErrors(r.data.fields || { form: r.data.reason || `HTTP ${r.status}` });
        if (first) first.focus();
      } catch (_) {
        showErrors({ form: "could not reach us; check your connection and try again" });
      } finally {
        p.busy = false;
        p.submitBtn.disabled = false;
      }
    }
    const awayEmailRow = () => (
      /** @type {HTMLElement} */
      p.awayEmail.parentNode
    );
    p.awayEmailPending = () => !p.away.hidden && !awayEmailRow().hidden && !!p.awayEmail.value.trim();
    p.sendWithAwayEmail = async (text) => {
      const email = p.awayEmail.value.trim();
      const setAwayErr = (reason) => {
        p.awayErr.textContent = reason || "";
        p.awayErr.hidden = !reason;
        if (reason) p.awayEmail.setAttribute("aria-invalid", "true");
        else p.awayEmail.removeAttribute("aria-invalid");
      };
      if (!EMAIL.test(email)) {
        setAwayErr("not a valid email address (name@example.com)");
        p.awayEmail.focus();
        return;
      }
      if (!state.token || p.busy) return;
      p.busy = true;
      try {
        const r = await post({ email }, text.trim());
        if (r.ok) {
          setAwayErr("");
          state.awayEmailLeft = true;
          ui.input.value = "";
          autosize();
          accepted(text.trim());
          return;
        }
        const f = r.data.fields || {};
        setAwayErr(f.email || Object.entries(f).map(([k, v]) => `${k}: ${v}`).join(" · ") || r.data.reason || `HTTP ${r.status}`);
      } catch (_) {
        setAwayErr("could not reach us; try again");
      } finally {
        p.busy = false;
      }
    };
    p.build = () => {
      shadow.append(el("style", { text: `
      .pc-box { flex: 1; overflow-y: auto; background: #f8fafc; padding: 14px; }
      .pc { display: flex; flex-direction: column; gap: 10px; background: #fff; border: 1px solid #e5e7eb; border-radius: 12px; padding: 14px; }
      .pc-title { margin: 0; font-size: 15px; }
      .pc-welcome { margin: 0; color: #374151; }
      .pc-row { display: flex; flex-direction: column; gap: 4px; }
      .pc-row label { font-size: 13px; font-weight: 600; color: #374151; }
      .pc-row input, .pc-row select, .pc-row textarea, .away input { font: inherit; padding: 7px 9px; border: 1px solid #d1d5db; border-radius: 8px; color: inherit; background: #fff; }
      .pc-row textarea { resize: vertical; min-height: 60px; }
      .pc-row [aria-invalid=true], .away [aria-invalid=true] { border-color: #dc2626; }
      .pc-check { flex-direction: row; flex-wrap: wrap; align-items: flex-start; gap: 8px; }
      .pc-check label { font-weight: 400; flex: 1; }
      .pc-check .pc-err { flex-basis: 100%; }
      .pc-err, .pc-formerr { color: #b91c1c; font-size: 12.5px; }
      .pc-row input:focus-visible, .pc-row select:focus-visible, .pc-row textarea:focus-visible, .pc-submit:focus-visible, .away input:focus-visible { outline: 3px solid #93c5fd; outline-offset: 1px; }
      .req { color: #b91c1c; }
      .pc-submit { font: inherit; border: 0; border-radius: 8px; padding: 9px 12px; background: var(--c); color: #fff; font-weight: 600; }
      .pc-submit:disabled { opacity: .6; }
      .pc-note { margin: 0; font-size: 11.5px; color: #6b7280; }
      .away { padding: 8px 14px; background: #fffbeb; border-top: 1px solid #fde68a; font-size: 13px; color: #92400e; display: flex; flex-direction: column; gap: 6px; }
      .away label { font-size: 12.5px; font-weight: 600; }
    ` }));
      p.box = el("div", { class: "pc-box", "data-testid": "prechat", hidden: true });
      ui.list.after(p.box);
      p.awayText = el("span", { "data-testid": "widget-away-text" });
      p.awayEmail = el("input", {
        id: "oh-away-email",
        type: "email",
        autocomplete: "email",
        maxlength: 320,
        placeholder: "name@example.com",
        "aria-describedby": "oh-away-err",
        "data-testid": "away-email"
      });
      p.awayErr = el("div", { class: "pc-err", id: "oh-away-err", "data-testid": "away-email-error", hidden: true });
      p.away = el(
        "div",
        { class: "away", role: "status", "data-testid": "widget-away", hidden: true },
        p.awayText,
        el("div", { class: "pc-row" }, el("label", { for: "oh-away-email", text: "Your email, so we can reply" }), p.awayEmail, p.awayErr)
      );
      ui.composer.before(p.away);
    };
    p.render = () => {
      if (!p.box) return;
      const form = state.prechat;
      const key = form ? JSON.stringify(form) : "";
      if (key !== p.builtFor) {
        p.builtFor = key;
        if (form) {
          build(form);
          if (state.open) setTimeout(p.focus, 0);
        } else p.box.replaceChildren();
      }
      p.box.hidden = !form;
      ui.list.hidden = !!form;
      ui.typing.hidden = !!form;
      ui.composer.hidden = !!form;
      const a = state.availability || { online: true, reason: null };
      const away = a.online === false;
      p.away.hidden = !away || !!form;
      const askEmail = !USER_EMAIL && !state.awayEmailLeft;
      awayEmailRow().hidden = !askEmail;
      const text = AWAY_TEXT[a.reason || ""] || AWAY_TEXT.no_agents_online;
      p.awayText.textContent = askEmail ? text : text.replace(" and your email", "");
    };
    return p;
  }

  // src/widget/store.js
  var REMOTE_TYPING_TTL_MS = 7e3;
  function restoreState(saved) {
    saved = saved && typeof saved === "object" ? saved : {};
    return {
      token: saved.token || null,
      // last_id is only meaningful together with the messages it was built from.
      lastId: saved.last_id && Array.isArray(saved.messages) ? saved.last_id : null,
      conversationId: saved.conversation_id || null,
      messages: new Map((Array.isArray(saved.messages) ? saved.messages : []).map((m) => [m.id, m])),
      outbox: Array.isArray(saved.outbox) ? saved.outbox.map((o) => ({ ...o, sentAt: 0 })) : [],
      acked: /* @__PURE__ */ new Map(),
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
      awayEmailLeft: !!saved.away_email_left
    };
  }
  function persisted(state, maxCached) {
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
      outbox: state.outbox.filter((o) => !o.failed).map(({ client_id, text, created_at }) => ({ client_id, text, created_at }))
    };
  }
  function sortedMessages(state) {
    return Array.from(state.messages.values()).sort((a, b) => a.id - b.id);
  }
  function upsertMessage(state, m) {
    if (!m || typeof m.id !== "number" || m.private) return false;
    const prev = state.messages.get(m.id);
    state.messages.set(m.id, prev ? { ...prev, ...m } : m);
    if (m.provider_id) settleClientId(state, clientIdOf(m.provider_id));
    return !prev;
  }
  function settleClientId(state, clientId) {
    const i = state.outbox.findIndex((o) => o.client_id === clientId);
    if (i >= 0) state.outbox.splice(i, 1);
    state.acked.delete(clientId);
  }
  function applyAck(state, clientId) {
    if (!clientId) return false;
    const i = state.outbox.findIndex((o2) => o2.client_id === clientId);
    if (i < 0) return false;
    const [o] = state.outbox.splice(i, 1);
    const done = sortedMessages(state).some((m) => clientIdOf(m.provider_id) === clientId);
    if (!done) state.acked.set(clientId, { client_id: clientId, text: o.text, created_at: o.created_at });
    return true;
  }
  function applyEvent(state, id, ev, now = Date.now()) {
    const todo = {};
    if (id && state.lastId && cmpStreamId(id, state.lastId) <= 0) return todo;
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
        todo.verification = /** @type {Verification} */
        /** @type {unknown} */
        ev;
        break;
      default:
        break;
    }
    if (id) state.lastId = id;
    if (fresh && !state.open) state.unread += 1;
    return todo;
  }
  function applyHello(state, h) {
    const tokenChanged = !!(state.token && h.visitor_token && h.visitor_token !== state.token);
    state.token = h.visitor_token || state.token;
    if (h.inbox) {
      state.inboxName = h.inbox.name || state.inboxName;
      state.greeting = h.inbox.greeting || "";
    }
    if (tokenChanged) {
      state.messages.clear();
      state.acked.clear();
      state.conversationStatus = "open";
      state.awayEmailLeft = false;
    }
    state.prechat = h.prechat || null;
    if (h.availability) state.availability = h.availability;
    if (h.limits && h.limits.text) state.maxText = h.limits.text;
    if ((h.conversation_id || null) !== state.conversationId) state.conversationStatus = "open";
    state.conversationId = h.conversation_id || null;
    if (Array.isArray(h.messages) || h.reset) {
      state.messages.clear();
      for (const m of h.messages || []) upsertMessage(state, m);
    }
    if (h.last_id && (!state.lastId || h.reset || Array.isArray(h.messages) || tokenChanged)) {
      state.lastId = h.last_id;
    }
    return h.verification ? { verification: h.verification } : {};
  }

  // src/widget/styles.js
  function widgetCss(color) {
    return `
  :host { all: initial; }
  * { box-sizing: border-box; }
  [hidden] { display: none !important; }
  .root { --c: ${color}; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
    color: #111827; position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; }
  button { font: inherit; cursor: pointer; }
  .bubble { width: 60px; height: 60px; border-radius: 50%; border: 0; background: var(--c); color: #fff;
    display: grid; place-items: center; box-shadow: 0 8px 24px rgba(0,0,0,.22); position: relative;
    transition: transform .15s ease; }
  .bubble:hover { transform: scale(1.06); }
  .bubble:focus-visible, .icon-btn:focus-visible, .send:focus-visible { outline: 3px solid #93c5fd; outline-offset: 2px; }
  .bubble svg { width: 28px; height: 28px; }
  .badge { position: absolute; top: -2px; right: -2px; min-width: 20px; height: 20px; padding: 0 6px; border-radius: 10px;
    background: #ef4444; color: #fff; font-size: 12px; font-weight: 700; display: grid; place-items: center;
    border: 2px solid #fff; }
  .panel { position: absolute; right: 0; bottom: 76px; width: 370px; max-width: calc(100vw - 32px);
    height: 560px; max-height: calc(100vh - 120px); background: #fff; border-radius: 16px; overflow: hidden;
    box-shadow: 0 16px 48px rgba(0,0,0,.25); display: flex; flex-direction: column;
    transform-origin: bottom right; animation: pop .16s ease-out; }
  .panel[hidden] { display: none; }
  @keyframes pop { from { opacity: 0; transform: scale(.96) translateY(8px); } to { opacity: 1; transform: none; } }
  .head { background: var(--c); color: #fff; padding: 16px 16px 14px; display: flex; align-items: flex-start; gap: 12px; }
  .head .titles { flex: 1; min-width: 0; }
  .head h2 { margin: 0; font-size: 16px; font-weight: 650; }
  .head p { margin: 2px 0 0; font-size: 13px; opacity: .9; }
  .conn { display: inline-flex; align-items: center; gap: 6px; font-size: 12px; opacity: .95; margin-top: 6px; }
  .dot { width: 8px; height: 8px; border-radius: 50%; background: #fbbf24; }
  .conn[data-status=online] .dot { background: #4ade80; }
  .conn[data-status=away] .dot, .conn[data-status=offline] .dot { background: #d1d5db; }
  .conn[data-status=error] .dot { background: #f87171; }
  .icon-btn { background: transparent; border: 0; color: #fff; width: 32px; height: 32px; border-radius: 8px;
    display: grid; place-items: center; }
  .icon-btn:hover { background: rgba(255,255,255,.18); }
  .msgs { flex: 1; overflow-y: auto; padding: 16px 14px 8px; background: #f8fafc; display: flex; flex-direction: column; gap: 6px; }
  .row { display: flex; flex-direction: column; max-width: 82%; }
  .row.in { align-self: flex-end; align-items: flex-end; }
  .row.out { align-self: flex-start; align-items: flex-start; }
  .row.system { align-self: center; max-width: 90%; align-items: center; }
  .who { font-size: 11.5px; color: #6b7280; margin: 4px 4px 2px; }
  .b { padding: 9px 12px; border-radius: 16px; white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word; }
  .in .b { background: var(--c); color: #fff; border-bottom-right-radius: 4px; }
  .out .b { background: #fff; color: #111827; border: 1px solid #e5e7eb; border-bottom-left-radius: 4px; }
  .system .b { background: transparent; color: #6b7280; font-size: 12.5px; text-align: center; padding: 4px 8px; }
  .meta { font-size: 11px; color: #9ca3af; margin: 2px 4px 0; }
  .row.pending .b { opacity: .7; }
  .row.failed .b { background: #fee2e2; color: #991b1b; }
  .meta button { background: none; border: 0; color: #b91c1c; text-decoration: underline; padding: 0; font-size: 11px; }
  .greet { align-self: flex-start; max-width: 82%; }
  .typing { height: 22px; padding: 0 16px; font-size: 12px; color: #6b7280; background: #f8fafc; display: flex; align-items: center; gap: 6px; }
  .typing .dots span { display: inline-block; width: 5px; height: 5px; margin-right: 2px; border-radius: 50%; background: #9ca3af; animation: blink 1.2s infinite; }
  .typing .dots span:nth-child(2) { animation-delay: .2s; } .typing .dots span:nth-child(3) { animation-delay: .4s; }
  @keyframes blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }
  .composer { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e5e7eb; background: #fff; align-items: flex-end; }
  textarea { flex: 1; resize: none; border: 1px solid #d1d5db; border-radius: 12px; padding: 9px 12px; font: inherit; color: inherit;
    max-height: 120px; min-height: 40px; outline: none; background: #fff; }
  textarea:focus { border-color: var(--c); box-shadow: 0 0 0 3px rgba(37,99,235,.15); }
  .send { width: 40px; height: 40px; border-radius: 12px; border: 0; background: var(--c); color: #fff; display: grid; place-items: center; flex: none; }
  .send:disabled { opacity: .45; cursor: default; }
  .err { padding: 8px 14px; background: #fef2f2; color: #991b1b; font-size: 12.5px; border-top: 1px solid #fecaca; }
  .count { padding: 4px 14px 0; font-size: 12px; color: #6b7280; text-align: right; background: #fff; font-variant-numeric: tabular-nums; }
  .count.over { color: #b91c1c; font-weight: 600; }
  .foot { text-align: center; font-size: 11px; color: #9ca3af; padding: 0 0 8px; background: #fff; }
  .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
  @media (max-width: 480px) { .root { right: 12px; bottom: 12px; } .panel { height: calc(100vh - 100px); } }
  @media (prefers-reduced-motion: reduce) { .panel, .bubble { animation: none; transition: none; } }
  `;
  }
  var ICON_CHAT = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z"/></svg>';
  var ICON_CLOSE = '<svg width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18"/></svg>';
  var ICON_DOWN = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M6 9l6 6 6-6"/></svg>';
  var ICON_SEND = '<svg width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M22 2L11 13"/><path d="M22 2l-7 20-4-9-9-4 20-7z"/></svg>';

  // src/widget/verify.js
  function createVerify(w) {
    const { shadow, ui, sendFrame } = w;
    const OPEN = /* @__PURE__ */ new Set(["requested", "sent", "wrong_code"]);
    const CLOSED_TEXT = {
      expired: "That code has expired. Ask the agent for a new one.",
      locked: "Too many wrong codes. Ask the agent for a new one.",
      undeliverable: "We could not send the code. The agent will help you another way.",
      superseded: ""
    };
    const v = (
      /** @type {VerifyBox} */
      { current: null, note: "", done: false }
    );
    v.build = () => {
      const style = el("style", { text: `
      .vf { padding: 10px 14px; border-top: 1px solid #e5e7eb; background: #eff6ff; font-size: 13px; }
      .vf p { margin: 0 0 6px; }
      .vf form { display: flex; gap: 8px; }
      .vf input { flex: 1; min-width: 0; border: 1px solid #d1d5db; border-radius: 10px; padding: 7px 10px; font: inherit;
        letter-spacing: .2em; }
      .vf button { border: 0; border-radius: 10px; padding: 7px 12px; background: var(--c); color: #fff; }
      .vf .vf-note { margin: 6px 0 0; color: #1e3a8a; }
      .vf .vf-note[data-kind=bad] { color: #991b1b; }` });
      shadow.append(style);
      v.input = el("input", {
        inputmode: "numeric",
        autocomplete: "one-time-code",
        maxlength: "9",
        "aria-label": "Verification code",
        "data-testid": "verify-code",
        placeholder: "6-digit code"
      });
      v.submitBtn = el("button", { type: "submit", "data-testid": "verify-submit", text: "Confirm" });
      v.prompt = el("p", { "data-testid": "verify-prompt" });
      v.noteEl = el("p", { class: "vf-note", role: "status", "data-testid": "verify-note" });
      v.form = el("form", { onsubmit: (e) => {
        e.preventDefault();
        v.submit();
      } }, v.input, v.submitBtn);
      v.box = el("div", { class: "vf", "data-testid": "verify-box", hidden: true }, v.prompt, v.form, v.noteEl);
      ui.composer.before(v.box);
    };
    v.submit = () => {
      const cur = v.current;
      const code = (v.input.value || "").replace(/[\s-]/g, "");
      if (!cur) return;
      if (!/^\d{6}$/.test(code)) {
        v.setNote("Please enter the 6 digits from the message.", "bad");
        return;
      }
      if (!sendFrame({ type: "verify", verification_id: cur.verification_id, code })) {
        v.setNote("Not connected. Try again in a moment.", "bad");
        return;
      }
      v.submitBtn.disabled = true;
    };
    v.setNote = (text, kind) => {
      v.note = text;
      v.noteKind = kind || "";
      v.render();
    };
    v.onEvent = (ev) => {
      if (!ev) return;
      if (OPEN.has(ev.status)) {
        if (!v.current || v.current.verification_id !== ev.verification_id) {
          v.note = "";
          v.done = false;
          if (v.input) v.input.value = "";
        }
        v.current = ev;
      } else if (v.current && v.current.verification_id === ev.verification_id) {
        if (ev.status === "verified") {
          v.current = null;
          v.done = true;
          v.setNote("Thanks, you're verified.", "");
          return;
        }
        v.current = null;
        v.note = CLOSED_TEXT[ev.status] || "";
        v.noteKind = "bad";
      }
      v.render();
    };
    v.onResult = (f) => {
      if (v.submitBtn) v.submitBtn.disabled = false;
      if (f.outcome === "verified") {
        v.current = null;
        v.done = true;
        v.setNote(f.text, "");
        return;
      }
      if (f.outcome !== "wrong_code") v.current = null;
      else if (v.input) v.input.select();
      v.setNote(f.attempts_left && f.outcome === "wrong_code" ? `${f.text} (${f.attempts_left} ${f.attempts_left === 1 ? "try" : "tries"} left)` : f.text, "bad");
    };
    v.onError = (f) => {
      if (v.submitBtn) v.submitBtn.disabled = false;
      if (f.code === "no_verification") v.current = null;
      v.setNote(f.code === "bad_code" ? "Please enter the 6 digits from the message." : "This code is no longer valid.", "bad");
    };
    v.render = () => {
      if (!v.box) return;
      const cur = v.current;
      v.box.hidden = !cur && !v.note;
      v.form.hidden = !cur;
      v.prompt.hidden = !cur;
      if (cur) {
        v.prompt.textContent = cur.status === "requested" ? `To confirm it's you, we're sending a 6-digit code to ${cur.target}. Enter it here:` : `To confirm it's you, we sent a 6-digit code to ${cur.target}. Enter it here:`;
      }
      v.noteEl.hidden = !v.note;
      v.noteEl.textContent = v.note;
      v.noteEl.dataset.kind = v.noteKind || "";
    };
    return v;
  }

  // src/widget/app.js
  var COUNTER_FROM = 0.8;
  var MAX_CACHED_MESSAGES = 200;
  var TYPING_IDLE_MS = 2500;
  var TYPING_REFRESH_MS = 3e3;
  var RESEND_AFTER_MS = 15e3;
  function startWidget(cfg) {
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
    const state = restoreState(loadStore());
    function persist() {
      try {
        localStorage.setItem(STORE_KEY, JSON.stringify(persisted(state, MAX_CACHED_MESSAGES)));
      } catch (_) {
      }
    }
    const sortedMessages2 = () => sortedMessages(state);
    function applyEvent2(id, ev) {
      const todo = applyEvent(state, id, ev);
      if (todo.typing) scheduleTypingExpiry();
      if (todo.verification) verify.onEvent(todo.verification);
    }
    function applyHello2(h) {
      const todo = applyHello(state, h);
      if (todo.verification) verify.onEvent(todo.verification);
    }
    let refusedOnce = false;
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
    const SOCKET_STATE = { idle: "connecting", connecting: "connecting", online: "online", offline: "offline", refused: "error" };
    const socket = new HubSocket(socketUrl, {
      onStatus: (s) => setConn(SOCKET_STATE[s] || "offline"),
      onHello: (f) => {
        refusedOnce = false;
        withoutToken = false;
        applyHello2(f);
        autosize();
        persist();
        render();
        flushOutbox(true);
      },
      onEvent: (id, event) => {
        if (!event) return;
        applyEvent2(id, event);
        persist();
        render();
      },
      onFrame: (f) => {
        if (f.type === "ack") onAck(f.client_id);
        else if (f.type === "verify_result") verify.onResult(f);
        else if (f.type === "error") onErrorFrame(f);
        else if (f.type === "reload") {
          state.lastId = null;
          persist();
          socket.drop(4e3, "reload");
        }
      },
      onRefused: (reason) => {
        if (state.token && !refusedOnce) {
          refusedOnce = true;
          withoutToken = true;
          return true;
        }
        state.errorText = reason ? `Chat is unavailable on this page: ${reason}.` : "Chat is unavailable on this page right now.";
        console.error("[omnihub] widget connection refused (1008):", reason || "");
        return false;
      },
      onClose: () => {
        withoutToken = false;
        refusedOnce = false;
      },
      onTick: () => flushOutbox(false)
    });
    function sendFrame(obj) {
      return socket.send(obj);
    }
    function onAck(clientId) {
      if (applyAck(state, clientId)) {
        persist();
        render();
      }
    }
    function onErrorFrame(f) {
      if (f.verification_id) {
        verify.onError(f);
        return;
      }
      if (f.code === "prechat_required" && f.client_id) {
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
        o.sentAt = Date.now();
        return;
      }
      o.failed = true;
      o.error = f.reason || f.code || "not sent";
      persist();
      render();
    }
    function flushOutbox(all) {
      const now = Date.now();
      for (const o of state.outbox) {
        if (o.failed) continue;
        if (!all && o.sentAt && now - o.sentAt < RESEND_AFTER_MS) continue;
        if (sendFrame({ type: "message", client_id: o.client_id, text: o.text })) o.sentAt = now;
        else break;
      }
    }
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
    function send(raw) {
      const text = String(raw ?? "").trim();
      if (!text) return null;
      if (textSize2(text).reason) return null;
      const o = { client_id: uuid(), text, created_at: (/* @__PURE__ */ new Date()).toISOString(), sentAt: 0 };
      state.outbox.push(o);
      persist();
      stopTyping();
      if (sendFrame({ type: "message", client_id: o.client_id, text })) o.sentAt = Date.now();
      else if (!socket.ws && !socket.stopped) socket.connect();
      render(true);
      return o.client_id;
    }
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
      setTimeout(() => prechat.active() ? prechat.focus() : ui.input.focus(), 0);
    }
    function closePanel() {
      state.open = false;
      stopTyping();
      render();
      ui.bubble.focus();
    }
    function svg(markup) {
      const t = document.createElement("template");
      t.innerHTML = markup;
      return (
        /** @type {Node} */
        t.content.firstChild
      );
    }
    const host = el("div", { id: "omnihub-widget", "data-omnihub": "widget" });
    const shadow = host.attachShadow({ mode: "open" });
    const ui = (
      /** @type {WidgetUI} */
      {}
    );
    function buildUI() {
      shadow.append(el("style", { text: widgetCss(COLOR) }));
      ui.status = el(
        "span",
        { class: "conn", "data-testid": "widget-status", "data-state": "connecting", role: "status" },
        el("span", { class: "dot" }),
        el("span", { class: "conn-text", text: "Connecting…" })
      );
      ui.title = el("h2", { id: "oh-title", text: state.inboxName });
      ui.sub = el("p", { text: "We typically reply in a few minutes" });
      ui.closeBtn = el("button", { class: "icon-btn", type: "button", "aria-label": "Close chat", "data-testid": "widget-close", onclick: closePanel });
      ui.closeBtn.append(svg(ICON_CLOSE));
      ui.list = el("div", { class: "msgs", "data-testid": "widget-messages", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
      ui.typing = el("div", { class: "typing", "data-testid": "widget-typing", "aria-live": "polite" });
      ui.input = el("textarea", {
        rows: 1,
        placeholder: "Write a message…",
        "aria-label": "Message",
        "data-testid": "widget-input",
        "aria-describedby": "oh-count"
      });
      ui.count = el("div", { class: "count", id: "oh-count", "data-testid": "widget-count", "aria-live": "polite", hidden: true });
      ui.sendBtn = el("button", { class: "send", type: "button", "aria-label": "Send message", "data-testid": "widget-send", disabled: true });
      ui.sendBtn.append(svg(ICON_SEND));
      ui.err = el("div", { class: "err", "data-testid": "widget-error", hidden: true, role: "alert" });
      ui.panel = el(
        "section",
        { class: "panel", role: "dialog", "aria-labelledby": "oh-title", "data-testid": "widget-panel", hidden: true },
        el("header", { class: "head" }, el("div", { class: "titles" }, ui.title, ui.sub, ui.status), ui.closeBtn),
        ui.list,
        ui.typing,
        ui.err,
        ui.count,
        ui.composer = el("div", { class: "composer" }, ui.input, ui.sendBtn),
        el("div", { class: "foot", text: "Powered by omnihub" })
      );
      ui.badge = el("span", { class: "badge", "data-testid": "widget-unread", hidden: true, "aria-hidden": "true" });
      ui.bubbleIcon = el("span", { style: "display:grid;place-items:center" });
      ui.bubble = el("button", {
        class: "bubble",
        type: "button",
        "aria-label": "Open chat",
        "aria-expanded": "false",
        "data-testid": "widget-bubble",
        onclick: () => state.open ? closePanel() : openPanel()
      }, ui.bubbleIcon, ui.badge);
      ui.root = el("div", { class: "root" }, ui.panel, ui.bubble);
      shadow.append(ui.root);
      const submit = () => {
        const text = ui.input.value;
        if (!text.trim() || textSize2(text.trim()).reason) return;
        if (prechat.awayEmailPending()) {
          prechat.sendWithAwayEmail(text);
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
    function textSize2(text) {
      return textSize(text, state.maxText, { counterFrom: COUNTER_FROM });
    }
    const w = { cfg, state, ui, shadow, sendFrame, persist, render, autosize, textSize: textSize2, openPanel };
    const verify = createVerify(w);
    const callback = createCallback(w);
    const prechat = createPrechat(w);
    function autosize() {
      ui.input.style.height = "auto";
      ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 120) + "px";
      const text = ui.input.value.trim();
      const size = textSize2(text);
      ui.count.hidden = !size.near && !size.reason;
      ui.count.textContent = size.reason || `${size.count.toLocaleString("en")} / ${state.maxText.toLocaleString("en")}`;
      ui.count.classList.toggle("over", !!size.reason);
      ui.sendBtn.disabled = !text || !!size.reason;
      ui.sendBtn.title = size.reason;
    }
    function setConn(c) {
      state.conn = c;
      renderStatus();
    }
    function visitorStatus() {
      if (state.conn === "online") {
        return state.availability && state.availability.online === false ? { key: "away", label: "We're away" } : { key: "online", label: "Online" };
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
      ui.status.dataset.state = state.conn;
      ui.status.dataset.status = s.key;
      ui.status.querySelector(".conn-text").textContent = s.label;
      ui.sub.hidden = s.key !== "online";
      ui.err.hidden = !state.errorText;
      ui.err.textContent = state.errorText;
    }
    function messageRow(m) {
      const kind = m.author && m.author.kind || (m.direction === "in" ? "contact" : "agent");
      const cls = kind === "system" ? "system" : m.direction === "in" ? "in" : "out";
      const row = el("div", {
        class: `row ${cls}`,
        "data-testid": "widget-message",
        "data-message-id": m.id,
        "data-direction": m.direction,
        "data-status": m.status || ""
      });
      if (cls === "out") row.append(el("div", { class: "who", text: m.author && m.author.name || (kind === "bot" ? "Bot" : "Agent") }));
      row.append(el("div", { class: "b", dir: "auto", text: m.text || "" }));
      if (cls !== "system") {
        const meta = [clock(m.created_at)];
        if (cls === "in" && m.status === "read") meta.push("Seen");
        if (m.status === "failed") meta.push("Not delivered");
        row.append(el("div", { class: "meta", text: meta.filter(Boolean).join(" · ") }));
      }
      return row;
    }
    function pendingRow(o, acked) {
      const row = el("div", {
        class: `row in ${o.failed ? "failed" : "pending"}`,
        "data-testid": "widget-message",
        "data-client-id": o.client_id,
        "data-direction": "in",
        "data-status": o.failed ? "failed" : acked ? "sent" : "pending"
      }, el("div", { class: "b", dir: "auto", text: o.text }));
      const meta = el("div", { class: "meta" });
      if (o.failed) {
        meta.append(
          `Not sent (${o.error}) · `,
          el("button", { type: "button", text: "Retry", onclick: () => retry(o.client_id) })
        );
      } else {
        meta.textContent = acked ? "Sent" : state.conn === "online" ? "Sending…" : "Waiting for connection…";
      }
      row.append(meta);
      return row;
    }
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
        rows.push(el(
          "div",
          { class: "row out greet" },
          el("div", { class: "who", text: state.inboxName }),
          el("div", { class: "b", dir: "auto", text: state.greeting })
        ));
      }
      const seen = /* @__PURE__ */ new Set();
      for (const m of sortedMessages2()) {
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
        ui.typing.append(
          el("span", { class: "dots", "aria-hidden": "true" }, el("span"), el("span"), el("span")),
          el("span", { text: `${t.name} is typing…` })
        );
      }
    }
    function boot() {
      buildUI();
      document.body.appendChild(host);
      render();
      socket.connect();
      socket.followBrowser({ dropWhenOffline: true, onBrowserOffline: renderStatus });
      window.addEventListener("pagehide", stopTyping);
    }
    window.OmnihubWidget = {
      __omnihub: true,
      open: () => openPanel(),
      close: () => closePanel(),
      toggle: () => state.open ? closePanel() : openPanel(),
      send: (text) => send(text),
      /** Open the "Call me back" form (needs data-voice-inbox on the tag). */
      callback: () => VOICE_INBOX ? callback.open() : void 0,
      /** Test/debug hooks (not a stable API). */
      get state() {
        return {
          connection: state.conn,
          token: state.token,
          lastId: state.lastId,
          conversationId: state.conversationId,
          messages: sortedMessages2(),
          outbox: state.outbox.map((o) => ({ ...o })),
          acked: Array.from(state.acked.values())
        };
      },
      /** Drop the socket and stay offline (tests: simulate a network loss). */
      disconnect: () => socket.pause(),
      /** Reconnect now (resumes with last_id). */
      reconnect: () => socket.restart()
    };
    if (document.body) boot();
    else document.addEventListener("DOMContentLoaded", boot, { once: true });
  }

  // src/widget/config.js
  function findScript() {
    const current = (
      /** @type {HTMLScriptElement | null} */
      document.currentScript
    );
    if (current) return current;
    const scripts = Array.from(document.querySelectorAll("script[src]"));
    const ours = scripts.filter((s) => /\/widget\.js(\?|#|$)/.test(
      /** @type {HTMLScriptElement} */
      s.src
    ));
    return (
      /** @type {HTMLScriptElement | null} */
      ours.find((s) => (
        /** @type {HTMLScriptElement} */
        s.dataset.inbox
      )) || ours[0] || null
    );
  }
  function readConfig(script, pageHref) {
    const d = script.dataset;
    const HUB = new URL(script.src, pageHref).origin;
    const INBOX = d.inbox || "web";
    const USER_EMAIL = d.userEmail || "";
    return {
      HUB,
      WS_BASE: HUB.replace(/^http/, "ws") + "/ws/widget",
      INBOX,
      USER_EMAIL,
      USER_HASH: d.userHash || "",
      COLOR: /^#[0-9a-fA-F]{3,8}$/.test(d.color || "") ? String(d.color) : "#2563eb",
      STORE_KEY: `omnihub:widget:v1:${HUB}:${INBOX}:${USER_EMAIL || "anon"}`,
      VOICE_INBOX: /^[a-z0-9][a-z0-9_-]{0,62}$/.test(d.voiceInbox || "") ? String(d.voiceInbox) : "",
      PHONE_REGION: /^[A-Za-z]{2}$/.test(d.phoneRegion || "") ? String(d.phoneRegion).toUpperCase() : ""
    };
  }

  // src/widget/index.js
  var loaded = (
    /** @type {any} */
    window.OmnihubWidget
  );
  if (!(loaded && loaded.__omnihub)) {
    const script = findScript();
    if (script) startWidget(readConfig(script, location.href));
    else console.error("[omnihub] cannot locate the widget <script> tag");
  }
})();
