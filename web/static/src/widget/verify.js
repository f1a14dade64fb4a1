// @ts-check
// A widget feature (see app.js): built from the widget context `w` it is given.
import { el } from "../../lib/dom.js";

// ---------------------------------------------------------------- verification code
// An agent asked to verify the email/phone this visitor typed (docs/identity.md
// "Verifying a claim"): the server pushes `verification.updated` over this socket (and
// an open one in the hello); the visitor types the code here and it goes back as a
// `verify` frame. The texts never say whether the address belongs to a customer.
/** @typedef {import("../../lib/types.js").Verification} Verification */
/** @typedef {import("../../lib/types.js").ServerFrame} ServerFrame */
/**
 * @typedef {object} VerifyBox
 * @property {Verification | null} current the open verification, if any
 * @property {string} note
 * @property {string} [noteKind] "bad" or ""
 * @property {boolean} done
 * @property {HTMLInputElement} input
 * @property {HTMLButtonElement} submitBtn
 * @property {HTMLParagraphElement} prompt
 * @property {HTMLParagraphElement} noteEl
 * @property {HTMLFormElement} form
 * @property {HTMLDivElement} [box] with the elements above, made by build(): none before
 * @property {() => void} build
 * @property {() => void} submit
 * @property {(text: string, kind: string) => void} setNote
 * @property {(ev: Verification | null | undefined) => void} onEvent
 * @property {(f: ServerFrame) => void} onResult a verify_result frame
 * @property {(f: ServerFrame) => void} onError an error frame about a verification
 * @property {() => void} render
 */

/**
 * @param {import("./app.js").WidgetContext} w
 * @returns {VerifyBox}
 */
export function createVerify(w) {
  const { shadow, ui, sendFrame } = w;
  const OPEN = new Set(["requested", "sent", "wrong_code"]);
  /** @type {Record<string, string>} */
  const CLOSED_TEXT = {
    expired: "That code has expired. Ask the agent for a new one.",
    locked: "Too many wrong codes. Ask the agent for a new one.",
    undeliverable: "We could not send the code. The agent will help you another way.",
    superseded: "",
  };
  const v = /** @type {VerifyBox} */ ({ current: null, note: "", done: false });

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
    v.input = el("input", { inputmode: "numeric", autocomplete: "one-time-code", maxlength: "9",
      "aria-label": "Verification code", "data-testid": "verify-code", placeholder: "6-digit code" });
    v.submitBtn = el("button", { type: "submit", "data-testid": "verify-submit", text: "Confirm" });
    v.prompt = el("p", { "data-testid": "verify-prompt" });
    v.noteEl = el("p", { class: "vf-note", role: "status", "data-testid": "verify-note" });
    v.form = el("form", { onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); v.submit(); } }, v.input, v.submitBtn);
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

  /** A verification.updated event (or the hello's open one). */
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
    v.setNote(f.attempts_left && f.outcome === "wrong_code"
      ? `${f.text} (${f.attempts_left} ${f.attempts_left === 1 ? "try" : "tries"} left)` : f.text, "bad");
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
      v.prompt.textContent = cur.status === "requested"
        ? `To confirm it's you, we're sending a 6-digit code to ${cur.target}. Enter it here:`
        : `To confirm it's you, we sent a 6-digit code to ${cur.target}. Enter it here:`;
    }
    v.noteEl.hidden = !v.note;
    v.noteEl.textContent = v.note;
    v.noteEl.dataset.kind = v.noteKind || "";
  };
  return v;
}
