// @ts-check
// The one DOM builder. User data only ever goes in as text (textContent / attributes),
// never as HTML.

/** @typedef {Node | string | number | null | undefined | false} Child */
/** @typedef {Record<string, unknown> | null | undefined} Attrs */

/**
 * Create an element: `el("button", {class: "btn", text: "Send", onclick: fn}, child…)`.
 * `class` sets className, `text` textContent, `on<event>` with a function adds a listener,
 * `true` sets an empty attribute; `undefined`, `null` and `false` values and children are
 * skipped; arrays of children are flattened.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = String(v);
      else if (k === "text") node.textContent = String(v);
      else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), /** @type {EventListener} */ (v));
      else node.setAttribute(k, v === true ? "" : String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === "number" ? String(c) : c);
  }
  return node;
}

/**
 * An element holding constant SVG markup (our own icons, never user data).
 * @param {string} markup a complete `<svg>…</svg>` string
 * @param {string} [cls]
 * @returns {HTMLSpanElement}
 */
export function svgIcon(markup, cls = "icon") {
  const span = document.createElement("span");
  span.className = cls;
  span.setAttribute("aria-hidden", "true");
  span.innerHTML = markup;
  return span;
}

/**
 * A select whose choice survives re-renders: live pages rebuild their rows on every
 * event, and a choice made between a rebuild and the click must not be lost.
 * `picked` (one Map per page) remembers the choice by `key`.
 * @param {Map<string, string>} picked
 * @param {string} key
 * @param {Record<string, unknown>} attrs
 * @param {{value: string, text: string}[]} options
 * @param {string} [initial]
 * @returns {HTMLSelectElement}
 */
export function keptSelect(picked, key, attrs, options, initial) {
  const want = picked.get(key) ?? initial;
  const sel = el("select", { ...attrs, onchange: () => picked.set(key, sel.value) },
    ...options.map((o) => el("option", { value: o.value, text: o.text, selected: o.value === want })));
  return sel;
}
