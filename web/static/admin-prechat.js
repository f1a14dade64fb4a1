// @ts-check
// Settings page: a chat inbox's pre-chat form (docs/frontend.md "Pre-chat form and away
// state"). The server validates the whole form; its reason names the field
// ("fields[2].options: …"), which is shown inline and marks that row. Saves send
// If-Match with the version that was loaded, so two admins never overwrite each other.

import { fetchJson } from "./lib/http.js";

const STANDARD = ["name", "email", "phone"];

/** @typedef {import("./lib/http.js").HttpError & {path?: string}} PrechatError */
/**
 * A field as the editor sends it (PUT …/prechat).
 * @typedef {{key: string, label: string, required: boolean, type?: string | null, options?: string[]}} FieldSpec
 */
/**
 * @typedef {{enabled: boolean, welcome: string, phone_region: string, fields: FieldSpec[],
 *   consent?: {text: string, version: string, required: boolean} | null}} PrechatConfig
 */

/**
 * ``tools``: the Settings page's own helpers ({ h, field, flash }).
 * @param {{slug: string}} i the inbox
 * @param {{h: typeof import("./admin-kit.js").h, field: typeof import("./admin-kit.js").field,
 *   flash: typeof import("./admin-kit.js").flash}} tools
 */
export function prechatEditor(i, { h, field, flash }) {
  if (!document.getElementById("prechat-editor-css")) {
    document.head.append(h("style", { id: "prechat-editor-css", text: `
      .prechat-row { grid-template-columns: 140px 1fr 120px 1fr auto auto; align-items: end; }
      .admin-form .prechat-row label.check { grid-column: auto; padding-bottom: 7px; }
      .prechat-row[aria-invalid=true] { outline: 2px solid var(--red); outline-offset: 4px; border-radius: 6px; }
    ` }));
  }
  const url = `/api/v1/inboxes/${encodeURIComponent(i.slug)}/prechat`;
  const holder = h("div", { "data-testid": "prechat-editor" }, h("p", { class: "muted", text: "Loading…" }));

  /**
   * @param {string} method
   * @param {PrechatConfig} [body]
   * @param {number} [version] sent as If-Match
   * @returns {Promise<{config: PrechatConfig, version: number}>}
   */
  async function call(method, body, version) {
    /** @type {Record<string, string>} */
    const headers = version !== undefined ? { "If-Match": String(version) } : {};
    try {
      return await fetchJson(url, { method, body: body || undefined, headers, loginOn401: true });
    } catch (caught) {
      const err = /** @type {PrechatError} */ (caught);
      err.path = (err.data && err.data.path) || ""; // the field the server refused
      throw err;
    }
  }

  /** @param {FieldSpec} [f] */
  const rowOf = (f = { key: "", label: "", type: null, required: false, options: [] }) => {
    const required = h("input", { type: "checkbox", name: "required", checked: f.required, "data-testid": "prechat-row-required" });
    const type = field("type", "Type", { options: ["", "text", "select", "checkbox"], value: STANDARD.includes(f.key) ? "" : f.type || "text", testid: "prechat-row-type" });
    return h("div", { class: "template-row prechat-row", "data-testid": "prechat-row" },
      field("key", "Key", { value: f.key, testid: "prechat-row-key" }),
      field("label", "Label", { value: f.label, testid: "prechat-row-label" }),
      type,
      field("options", "Options (comma separated)", { value: (f.options || []).join(", "), testid: "prechat-row-options" }),
      h("label", { class: "check" }, required, " Required"),
      h("button", { type: "button", class: "btn btn-ghost", text: "Remove", onclick: (/** @type {MouseEvent} */ e) => /** @type {Element} */ (/** @type {Element} */ (e.target).closest(".prechat-row")).remove() }));
  };

  /**
   * The form's values (every control below is in the editor's own markup).
   * @param {HTMLElement} root
   * @returns {PrechatConfig}
   */
  function collect(root) {
    /** @param {string} name */
    const v = (name) => /** @type {HTMLInputElement} */ (root.querySelector(`[data-role=${name}]`));
    const fields = [...root.querySelectorAll(".prechat-row")].map((r) => {
      /** @param {string} name */
      const input = (name) => /** @type {HTMLInputElement} */ (r.querySelector(`[name=${name}]`));
      const key = input("key").value.trim();
      /** @type {FieldSpec} */
      const out = { key, label: input("label").value.trim(), required: input("required").checked };
      const type = input("type").value;
      if (!STANDARD.includes(key)) out.type = type || "text";
      const options = input("options").value.split(",").map((s) => s.trim()).filter(Boolean);
      if (options.length) out.options = options;
      return out;
    });
    /** @type {PrechatConfig} */
    const body = { enabled: v("enabled").checked, welcome: v("welcome").value, phone_region: v("region").value.trim(), fields };
    if (v("consent-on").checked) {
      body.consent = { text: v("consent-text").value, version: v("consent-version").value.trim(), required: v("consent-required").checked };
    }
    return body;
  }

  /** @param {{config: PrechatConfig, version: number}} data */
  function draw(data) {
    const cfg = data.config;
    const rows = h("div", { class: "template-rows" }, ...cfg.fields.map(rowOf));
    const error = h("div", { class: "error", role: "alert", "data-testid": "form-error", hidden: true });
    const c = cfg.consent || { text: "", version: "", required: true };
    const form = h("div", { class: "admin-form" },
      h("label", { class: "check" }, h("input", { type: "checkbox", "data-role": "enabled", "data-testid": "prechat-enabled", checked: cfg.enabled }),
        " Ask new visitors these questions before they chat"),
      h("label", {}, "Welcome message", h("textarea", { "data-role": "welcome", "data-testid": "prechat-welcome-text" }, cfg.welcome)),
      h("label", {}, "Phone region for numbers without +country (e.g. DE)", h("input", { "data-role": "region", value: cfg.phone_region, maxlength: 2, "data-testid": "prechat-region" })),
      h("p", { class: "muted", style: "grid-column: 1 / -1", text: `Version ${data.version}. Keys name, email and phone are the standard fields (type implied); any other key is a custom text, select or checkbox field, seen by routing as attrs.<key>. Email and phone are stored as unverified: they never link the visitor to an existing customer.` }),
      rows,
      h("label", { class: "check" }, h("input", { type: "checkbox", "data-role": "consent-on", "data-testid": "prechat-consent-on", checked: !!cfg.consent }), " Ask for consent"),
      h("label", {}, "Consent text", h("textarea", { "data-role": "consent-text", "data-testid": "prechat-consent-text" }, c.text)),
      h("label", {}, "Consent version (empty: derived from the text)", h("input", { "data-role": "consent-version", value: c.version, "data-testid": "prechat-consent-version" })),
      h("label", { class: "check" }, h("input", { type: "checkbox", "data-role": "consent-required", checked: c.required }), " Consent is required to chat"),
      error,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "btn", text: "Add field", "data-testid": "prechat-add", onclick: () => rows.append(rowOf()) }),
        h("button", { type: "button", class: "btn btn-primary", text: "Save pre-chat form", "data-testid": "prechat-save",
          onclick: async () => {
            error.hidden = true;
            for (const r of rows.children) r.removeAttribute("aria-invalid");
            try {
              draw(await call("PUT", collect(form), data.version));
              flash(`Pre-chat form of ${i.slug} saved.`);
            } catch (caught) {
              const e = /** @type {PrechatError} */ (caught);
              error.textContent = e.message;
              error.hidden = false;
              const m = /^fields\[(\d+)\]/.exec(e.path || "");
              if (m && rows.children[+m[1]]) rows.children[+m[1]].setAttribute("aria-invalid", "true");
            }
          } })));
    holder.replaceChildren(form);
  }

  call("GET").then(draw).catch((/** @type {Error} */ e) => holder.replaceChildren(h("p", { class: "error", text: e.message })));
  return holder;
}
