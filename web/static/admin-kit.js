// @ts-check
// The Settings pages' shared helpers (admin.js and its tabs): REST calls whose errors
// carry the server's reason, the flash line, labelled fields, forms that show the
// server's refusal inside themselves, and the "shown only once" secrets box.

import { el as h } from "./lib/dom.js";
import { fetchJson } from "./lib/http.js";

export { h };

/** A REST call for the Settings pages: the server's reason as the error, /login on 401.
 * @param {string} path
 * @param {{method?: string, body?: unknown}} [opts]
 */
export function api(path, { method = "GET", body } = {}) {
  return fetchJson(path, { method, body, loginOn401: true });
}


let flashTimer = 0;

/** Show a line in the page's flash box for 4 s. @param {string} text */
export function flash(text) {
  const el = /** @type {HTMLElement} */ (document.getElementById("flash"));
  el.textContent = text;
  el.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

/**
 * @typedef {{value?: string, type?: string, options?: string[], required?: boolean,
 *   placeholder?: string, testid?: string}} FieldOptions
 */

/**
 * A labelled input (a select with `options`, a textarea with type "textarea").
 * @param {string} name
 * @param {string} label
 * @param {FieldOptions} [opts]
 */
export function field(name, label, { value = "", type = "text", options, required, placeholder, testid } = {}) {
  const input = options
    ? h("select", { name, "data-testid": testid || `field-${name}` }, ...options.map((o) => h("option", { value: o, text: o, selected: o === value })))
    : type === "textarea"
      ? h("textarea", { name, placeholder, "data-testid": testid || `field-${name}` }, value)
      : h("input", { name, type, value, required, placeholder, autocomplete: type === "password" ? "new-password" : "off", "data-testid": testid || `field-${name}` });
  return h("label", {}, label, input);
}

/**
 * A form whose submit calls ``action(values)``; errors show inside it.
 * @param {string} testid
 * @param {Node[]} fields
 * @param {string} submitText
 * @param {(values: Record<string, string>, form: HTMLFormElement) => unknown} action the
 *   form's values by name (these forms have no file inputs: every value is a string)
 */
export function form(testid, fields, submitText, action) {
  const error = h("div", { class: "error", role: "alert", "data-testid": "form-error", hidden: true });
  const submit = h("button", { type: "submit", class: "btn btn-primary", text: submitText });
  const el = h("form", { class: "admin-form", "data-testid": testid, novalidate: true }, ...fields, error, h("div", { class: "actions" }, submit));
  el.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    try {
      await action(/** @type {Record<string, string>} */ (Object.fromEntries(new FormData(el).entries())), el);
    } catch (e) {
      error.textContent = /** @type {Error} */ (e).message;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  return el;
}

/**
 * The secrets a create/rotate answer shows once (null when there are none).
 * @param {Record<string, string> | null | undefined} secrets
 * @param {string} [testid]
 * @param {string} [keyPrefix]
 */
export function secretBox(secrets, testid = "secret-box", keyPrefix = "secret-") {
  const entries = Object.entries(secrets || {});
  if (!entries.length) return null;
  return h("div", { class: "secret-box", "data-testid": testid },
    h("strong", { text: "Copy now: shown only once." }),
    ...entries.map(([k, v]) => h("div", {}, `${k}: `, h("code", { "data-testid": `${keyPrefix}${k}`, text: v }))));
}
