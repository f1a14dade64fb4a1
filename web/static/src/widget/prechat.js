// @ts-check
// A widget feature (see app.js): built from the widget context `w` it is given.
import { el } from "../../lib/dom.js";
import { uuid } from "../../lib/stream-id.js";

// ---------------------------------------------------------------- pre-chat form, away box
// The server's hello says whether this (new) visitor must fill in a form and whether
// anyone can answer now (docs/frontend.md "Pre-chat form and away state"). Answers and
// the first message go together to POST /api/v1/widget/prechat (JSON as text/plain, so
// no CORS preflight); problems come back per field and are shown next to the field.
/**
 * A field of the pre-chat form (hello.prechat.fields; docs/frontend.md).
 * @typedef {{key: string, label: string, type: string, required?: boolean, options?: string[],
 *   max_length?: number, placeholder?: string}} PrechatSpec
 */
/**
 * The form the hello asks for.
 * @typedef {{fields: PrechatSpec[], welcome?: string, consent?: {text: string, required?: boolean} | null}} PrechatForm
 */
/** @typedef {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} FieldInput */
/**
 * @typedef {object} Prechat
 * @property {PrechatSpec[]} specs the shown fields, then message (and consent)
 * @property {Record<string, FieldInput>} inputs by key
 * @property {Record<string, HTMLDivElement>} errs by key
 * @property {string} builtFor the form (as JSON) the box shows
 * @property {boolean} busy a POST is in flight
 * @property {string | null} clientId the message's id, the same on every retry
 * @property {HTMLDivElement} formErr
 * @property {HTMLButtonElement} submitBtn
 * @property {HTMLDivElement} [box] with away*, made by build(): none before
 * @property {HTMLSpanElement} awayText
 * @property {HTMLInputElement} awayEmail
 * @property {HTMLDivElement} awayErr
 * @property {HTMLDivElement} away
 * @property {() => boolean} active a form is asked for
 * @property {(text: string) => void} adoptMessage a message typed before the form came
 * @property {() => void} focus
 * @property {() => boolean} awayEmailPending
 * @property {(text: string) => Promise<void>} sendWithAwayEmail
 * @property {() => void} build
 * @property {() => void} render
 */

/**
 * @param {import("./app.js").WidgetContext} w
 * @returns {Prechat}
 */
export function createPrechat(w) {
  const { cfg, state, ui, shadow, persist, render, autosize, textSize } = w;
  const { HUB, INBOX, PHONE_REGION, USER_EMAIL } = cfg;
  const EMAIL = /^[^@\s<>"]{1,64}@[^@\s<>"]{1,255}$/;
  const PHONE = /^[+0-9 ()./-]{3,32}$/;
  /** @type {Record<string, string>} */
  const AWAY_TEXT = {
    outside_hours: "We're closed right now. Leave a message and your email and we'll get back to you.",
    no_agents_online: "We're away right now. Leave a message and your email and we'll get back to you.",
  };
  // The elements and methods are added below (build(), p.* =).
  const p = /** @type {Prechat} */ (/** @type {unknown} */ ({ specs: [], inputs: {}, errs: {}, builtFor: "", busy: false, clientId: null }));

  p.active = () => !!state.prechat;
  let adopted = "";
  p.adoptMessage = (text) => {
    adopted = adopted ? `${adopted}\n${text}` : text;
    if (p.inputs.message && !p.inputs.message.value) p.inputs.message.value = adopted;
  };
  p.focus = () => {
    const first = p.specs.map((s) => p.inputs[s.key]).find(Boolean);
    if (first) first.focus();
  };

  /**
   * @param {PrechatSpec} spec
   * @param {FieldInput} input
   * @returns {string} what is wrong, "" when nothing
   */
  function check(spec, input) {
    if (input.type === "checkbox") {
      if (spec.required && !(/** @type {HTMLInputElement} */ (input).checked)) return spec.key === "consent" ? "please agree to continue" : "must be checked";
      return "";
    }
    const v = input.value.trim();
    if (!v) return spec.required ? "required" : "";
    if (spec.type === "email" && !EMAIL.test(v)) return "not a valid email address (name@example.com)";
    if (spec.type === "phone" && !PHONE.test(v)) return "not a valid phone number";
    if (spec.key === "message") return textSize(v).reason;
    return "";
  }

  /**
   * @param {string} key
   * @param {string} reason "" clears it
   * @returns {boolean} the field exists
   */
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

  /** Show a {key: reason} map inline; returns the first field with a problem. */
  /** @param {Record<string, string>} errors */
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

  /** @param {PrechatSpec} spec */
  function fieldRow(spec) {
    const id = `oh-pc-${spec.key}`;
    const errId = `${id}-err`;
    const common = {
      id, name: spec.key, "aria-describedby": errId, "data-testid": `prechat-field-${spec.key}`,
      required: spec.required, "aria-required": spec.required ? "true" : null,
    };
    /** @type {FieldInput} */
    let input;
    if (spec.type === "select") {
      input = el("select", common, el("option", { value: "", text: "Choose…" }),
        ...(spec.options || []).map((o) => el("option", { value: o, text: o })));
    } else if (spec.type === "checkbox") {
      input = el("input", { ...common, type: "checkbox" });
    } else if (spec.type === "message") {
      input = el("textarea", { ...common, rows: 3, placeholder: "How can we help?" });
    } else {
      const [type, auto] = spec.type === "email" ? ["email", "email"] : spec.type === "phone" ? ["tel", "tel"] : ["text", spec.key === "name" ? "name" : "off"];
      input = el("input", { ...common, type, autocomplete: auto, maxlength: spec.max_length || (spec.key === "name" ? 100 : 500),
        placeholder: spec.placeholder || (spec.type === "phone" ? "+49 30 1234567" : null) });
    }
    p.inputs[spec.key] = input;
    p.errs[spec.key] = el("div", { class: "pc-err", id: errId, "data-testid": `prechat-error-${spec.key}`, hidden: true });
    // Inline validation: a field is checked when the visitor leaves it, and re-checked
    // as they fix it once it showed a problem.
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

  /** @param {PrechatForm} form */
  function build(form) {
    p.inputs = {};
    p.errs = {};
    p.specs = [...form.fields, { key: "message", label: "Your message", type: "message", required: true }];
    if (form.consent) p.specs.push({ key: "consent", label: form.consent.text, type: "checkbox", required: form.consent.required });
    p.formErr = el("div", { class: "pc-formerr", role: "alert", "data-testid": "prechat-form-error", hidden: true });
    p.submitBtn = el("button", { type: "submit", class: "pc-submit", "data-testid": "prechat-submit", text: "Start chat" });
    const away = state.availability && state.availability.online === false;
    const f = el("form", { class: "pc", novalidate: true, "data-testid": "prechat-form", "aria-labelledby": "oh-pc-title" },
      el("h3", { id: "oh-pc-title", class: "pc-title", text: away ? "Leave us a message" : "Before we start" }),
      form.welcome ? el("p", { class: "pc-welcome", "data-testid": "prechat-welcome", text: form.welcome }) : null,
      ...p.specs.map(fieldRow), p.formErr, p.submitBtn,
      el("p", { class: "pc-note", text: "* required" }));
    f.addEventListener("submit", onSubmit);
    if (adopted) p.inputs.message.value = adopted;
    /** @type {HTMLDivElement} */ (p.box).replaceChildren(f); // render() calls this once built
  }

  /**
   * @param {Record<string, string | boolean>} values
   * @param {string} text
   * @param {boolean} [consent]
   */
  async function post(values, text, consent) {
    p.clientId = p.clientId || uuid(); // the same id on every retry: the hub dedupes on it
    /** @type {Record<string, unknown>} */
    const body = { inbox: INBOX, token: state.token, values, client_id: p.clientId, text, region: PHONE_REGION };
    if (consent !== undefined) body.consent = consent;
    const res = await fetch(`${HUB}/api/v1/widget/prechat`, {
      method: "POST", headers: { "Content-Type": "text/plain" }, body: JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    return { ok: res.status === 202, status: res.status, data };
  }

  /** @param {string} text */
  function accepted(text) {
    const id = /** @type {string} */ (p.clientId); // set by post()
    p.clientId = null;
    adopted = "";
    state.acked.set(id, { client_id: id, text, created_at: new Date().toISOString() });
    state.prechat = null;
    persist();
    render(true);
  }

  /** @param {SubmitEvent} e */
  async function onSubmit(e) {
    e.preventDefault();
    if (p.busy) return;
    /** @type {Record<string, string>} */
    const errors = {};
    for (const s of p.specs) {
      const reason = check(s, p.inputs[s.key]);
      if (reason) errors[s.key] = reason;
    }
    const bad = showErrors(errors);
    if (bad) { bad.focus(); return; }
    if (!state.token) { showErrors({ form: "still connecting, please try again in a moment" }); return; }
    /** @type {Record<string, string | boolean>} */
    const values = {};
    for (const s of p.specs) {
      if (s.key === "message" || s.key === "consent") continue;
      const input = p.inputs[s.key];
      values[s.key] = input.type === "checkbox" ? /** @type {HTMLInputElement} */ (input).checked : input.value;
    }
    const text = p.inputs.message.value.trim();
    p.busy = true;
    p.submitBtn.disabled = true;
    try {
      const r = await post(values, text, p.inputs.consent ? /** @type {HTMLInputElement} */ (p.inputs.consent).checked : undefined);
      if (r.ok) { accepted(text); setTimeout(() => ui.input.focus(), 0); return; }
      const first = showErrors(r.data.fields || { form: r.data.reason || `HTTP ${r.status}` });
      if (first) first.focus();
    } catch (_) {
      showErrors({ form: "could not reach us; check your connection and try again" });
    } finally {
      p.busy = false;
      p.submitBtn.disabled = false;
    }
  }

  // ---- away box: "we're away", plus an optional email sent with the next message
  /** The away box's email row (label, input, error). */
  const awayEmailRow = () => /** @type {HTMLElement} */ (p.awayEmail.parentNode);
  p.awayEmailPending = () => !p.away.hidden && !awayEmailRow().hidden && !!p.awayEmail.value.trim();

  p.sendWithAwayEmail = async (text) => {
    const email = p.awayEmail.value.trim();
    const setAwayErr = (/** @type {string} */ reason) => {
      p.awayErr.textContent = reason || "";
      p.awayErr.hidden = !reason;
      if (reason) p.awayEmail.setAttribute("aria-invalid", "true");
      else p.awayEmail.removeAttribute("aria-invalid");
    };
    if (!EMAIL.test(email)) { setAwayErr("not a valid email address (name@example.com)"); p.awayEmail.focus(); return; }
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
    p.awayEmail = el("input", { id: "oh-away-email", type: "email", autocomplete: "email", maxlength: 320, placeholder: "name@example.com",
      "aria-describedby": "oh-away-err", "data-testid": "away-email" });
    p.awayErr = el("div", { class: "pc-err", id: "oh-away-err", "data-testid": "away-email-error", hidden: true });
    p.away = el("div", { class: "away", role: "status", "data-testid": "widget-away", hidden: true }, p.awayText,
      el("div", { class: "pc-row" }, el("label", { for: "oh-away-email", text: "Your email, so we can reply" }), p.awayEmail, p.awayErr));
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
        // The form may arrive (hello) after the panel opened: put the caret in it.
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
    // Identified shop users are known already; a visitor who left an email is too.
    const askEmail = !USER_EMAIL && !state.awayEmailLeft;
    awayEmailRow().hidden = !askEmail;
    const text = AWAY_TEXT[a.reason || ""] || AWAY_TEXT.no_agents_online;
    p.awayText.textContent = askEmail ? text : text.replace(" and your email", "");
  };
  return p;
}
