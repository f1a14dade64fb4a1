// @ts-check
// Email messages in the agent inbox: the trimmed reply with a toggle for the quoted rest,
// the sanitised HTML only inside a sandboxed iframe (no scripts, CSP forbids remote
// content) with remote images blocked until the agent clicks "Load images", attachment
// and original (.eml) downloads, and a visible flag on malformed mail.
//
// inbox.js re-renders the message list often, so the agent's choices (quoted part shown,
// formatted view open, images allowed) live here per message id, not in the DOM.

import { el } from "./lib/dom.js";

/** @typedef {import("./lib/types.js").Message} Message */
/** @typedef {import("./lib/types.js").Conversation} Conversation */
/** @typedef {Record<string, string>} InlineImages content-id → data: URL */

const shownQuoted = new Set();
const shownHtml = new Set();
const imagesAllowed = new Set();

// Must match channels/email/htmlbody.py REMOTE_IMAGE_PLACEHOLDER.
const REMOTE_PLACEHOLDER = "cid:omnihub-remote-image-";
const CSP_BLOCKED = "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'; font-src data:";
// https only: the inbox page's own CSP (inherited by srcdoc frames) allows no http images.
const CSP_IMAGES = "default-src 'none'; img-src data: cid: https:; style-src 'unsafe-inline'; font-src data:";
// No allow-scripts and no allow-same-origin: nothing in the mail runs or reaches our origin.
// Popups only so links (target=_blank from the sanitiser) open in a normal tab.
export const IFRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox";

/**
 * @param {Message} m
 * @param {string} name
 * @returns {string}
 */
function attr(m, name) {
  return (m.attributes && m.attributes[name]) || "";
}

/**
 * @param {Message} m
 * @returns {string[]}
 */
function remoteImageUrls(m) {
  try {
    const urls = JSON.parse(attr(m, "email.remote_image_urls") || "[]");
    return Array.isArray(urls) ? urls.map(String) : [];
  } catch {
    return [];
  }
}

/** The iframe document: the sanitised HTML, a CSP meta, and (when allowed) the remote
 * image URLs put back through the DOM (never by string concatenation).
 * @param {string | null | undefined} html
 * @param {string[]} urls
 * @param {boolean} loadImages
 * @param {InlineImages} [inline]
 */
export function emailSrcdoc(html, urls, loadImages, inline = {}) {
  const doc = new DOMParser().parseFromString(String(html || ""), "text/html");
  for (const img of doc.querySelectorAll("img[src]")) {
    const src = img.getAttribute("src") || "";
    if (!src.startsWith(REMOTE_PLACEHOLDER)) {
      // An inline image of the mail itself (cid:), as a data: URL the parent fetched.
      const cid = src.toLowerCase().startsWith("cid:") ? src.slice(4) : "";
      if (cid && Object.prototype.hasOwnProperty.call(inline, cid)) img.setAttribute("src", inline[cid]);
      else if (cid) img.removeAttribute("src"); // not fetched (yet): nothing to load
      continue;
    }
    const url = urls[Number(src.slice(REMOTE_PLACEHOLDER.length))];
    if (loadImages && url && /^(https?:)?\/\//i.test(url)) {
      img.setAttribute("src", url.replace(/^(https?:)?\/\//i, "https://"));
      img.setAttribute("referrerpolicy", "no-referrer");
    } else {
      img.removeAttribute("src");
      img.setAttribute("alt", img.getAttribute("alt") || "[image blocked]");
    }
  }
  const head = doc.head;
  const meta = doc.createElement("meta");
  meta.setAttribute("http-equiv", "Content-Security-Policy");
  meta.setAttribute("content", loadImages ? CSP_IMAGES : CSP_BLOCKED);
  const charset = doc.createElement("meta");
  charset.setAttribute("charset", "utf-8");
  const base = doc.createElement("base");
  base.setAttribute("target", "_blank");
  const style = doc.createElement("style");
  style.textContent = "body{font:14px/1.45 system-ui,sans-serif;margin:10px;color:#1f2937;overflow-wrap:anywhere}"
    + "img{max-width:100%;height:auto}blockquote{margin:0 0 0 .6em;padding-left:.6em;border-left:3px solid #d1d5db;color:#4b5563}";
  head.prepend(charset, meta, base, style);
  return `<!doctype html>${doc.documentElement.outerHTML}`;
}

/** @type {Map<number, InlineImages>} message id -> its inline images */
const inlineCache = new Map();
/** @type {Map<number, Promise<InlineImages>>} message id -> the fetch in flight, shared by
 * every frame rendered meanwhile (a thread re-render must not start a second fetch, nor
 * leave its new frame without the images the first fetch brings) */
const inlineLoading = new Map();
const MAX_INLINE_BYTES = 2 * 1024 * 1024;

/**
 * @param {Message} m
 * @returns {Record<string, string | number>} content-id → attachment index
 */
function inlineImages(m) {
  try {
    const map = JSON.parse(attr(m, "email.inline_images") || "{}");
    return map && typeof map === "object" ? map : {};
  } catch {
    return {};
  }
}

/** One inline image; a busy server (5xx) or a dropped connection is tried again twice. */
/**
 * @param {number} id the message
 * @param {number} index the attachment
 */
async function fetchInlineImage(id, index) {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const res = await fetch(`/api/v1/messages/${id}/attachments/${index}`, { credentials: "same-origin" });
      if (res.status < 500) return res;
    } catch {
      // network error: try again
    }
    await new Promise((r) => setTimeout(r, 250 * (attempt + 1)));
  }
  return null;
}

/** The sandboxed frame cannot send our cookie, so the page fetches each inline image
 * (authenticated, scoped like any download) and hands it over as a data: URL.
 * @param {Message} m
 */
async function loadInlineImages(m) {
  /** @type {InlineImages} */
  const out = {};
  for (const [cid, index] of Object.entries(inlineImages(m))) {
    const a = (m.attachments || [])[Number(index)];
    if (!a || !String(a.content_type || "").startsWith("image/") || (a.size || 0) > MAX_INLINE_BYTES) continue;
    try {
      const res = await fetchInlineImage(m.id, Number(index));
      if (!res || !res.ok) continue;
      const blob = await res.blob();
      out[cid] = await new Promise((/** @type {(url: string) => void} */ resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(String(reader.result).replace(/^data:[^;,]*/, `data:${a.content_type}`));
        reader.onerror = () => reject(reader.error);
        reader.readAsDataURL(blob);
      });
    } catch {
      // A missing image stays blank; the rest of the mail still shows.
    }
  }
  return out;
}

/**
 * @param {Message} m
 * @param {string[]} urls its remote images
 * @returns {HTMLDivElement}
 */
function htmlFrame(m, urls) {
  const loadImages = imagesAllowed.has(m.id);
  const frame = el("iframe", {
    class: "email-frame", "data-testid": "email-html", title: "Formatted email",
    sandbox: IFRAME_SANDBOX, referrerpolicy: "no-referrer",
  });
  frame.srcdoc = emailSrcdoc(m.html, urls, loadImages, inlineCache.get(m.id) || {});
  if (!inlineCache.has(m.id) && Object.keys(inlineImages(m)).length) {
    let loading = inlineLoading.get(m.id);
    if (!loading) {
      loading = loadInlineImages(m).then((inline) => {
        inlineLoading.delete(m.id);
        // Only a complete set is kept: a failed image is fetched again on the next render.
        if (Object.keys(inline).length === Object.keys(inlineImages(m)).length) inlineCache.set(m.id, inline);
        return inline;
      });
      inlineLoading.set(m.id, loading);
    }
    loading.then((inline) => {
      if (Object.keys(inline).length) frame.srcdoc = emailSrcdoc(m.html, urls, imagesAllowed.has(m.id), inline);
    });
  }
  const box = el("div", { class: "email-html-box" });
  if (urls.length && !loadImages) {
    box.append(el("div", { class: "email-images-note", "data-testid": "email-images-blocked" },
      el("span", { text: `${urls.length} remote image${urls.length > 1 ? "s" : ""} blocked to protect your privacy. ` }),
      el("button", {
        type: "button", class: "link", "data-testid": "email-load-images",
        onclick: () => {
          imagesAllowed.add(m.id);
          box.replaceWith(htmlFrame(m, urls));
        },
        text: "Load images",
      })));
  }
  box.append(frame);
  return box;
}

/** Live toggles by key: a click that lands while the thread re-renders (a new event) must
 * show on the copy now in the page, not only on the one it was made on. */
/** @typedef {(() => void) & {btn?: HTMLButtonElement}} Sync */
/** @type {Map<string, Sync[]>} */
const toggles = new Map();

/**
 * @param {string} label
 * @param {string} hiddenLabel
 * @param {string} testid
 * @param {Set<number>} set the ids shown
 * @param {number} id
 * @param {HTMLElement} target
 * @param {() => void} [onShow] run on every live copy when it is shown
 */
function toggle(label, hiddenLabel, testid, set, id, target, onShow) {
  const btn = el("button", { type: "button", class: "link email-toggle", "data-testid": testid });
  const key = `${testid}:${id}`;
  /** @type {Sync} */
  const sync = () => {
    const on = set.has(id);
    target.hidden = !on;
    btn.textContent = on ? hiddenLabel : label;
    btn.setAttribute("aria-expanded", String(on));
    if (on && onShow) onShow();
  };
  btn.addEventListener("click", () => {
    if (set.has(id)) set.delete(id);
    else set.add(id);
    for (const syncCopy of toggles.get(key) || []) syncCopy();
    sync();
  });
  const copies = (toggles.get(key) || []).filter((s) => s.btn && s.btn.isConnected);
  sync.btn = btn;
  copies.push(sync);
  toggles.set(key, copies);
  sync();
  return btn;
}

/** @param {Message} m */
function downloads(m) {
  /** @type {HTMLElement[]} */
  const items = (m.attachments || []).map((/** @type {any} */ a, /** @type {number} */ i) => el("a", {
    class: "attachment", "data-testid": "email-attachment", download: a.filename || true,
    href: `/api/v1/messages/${m.id}/attachments/${i}`,
    title: `${a.content_type || ""} · ${Math.ceil((a.size || 0) / 1024)} kB`,
    text: `📎 ${a.filename || `attachment ${i + 1}`}`,
  }));
  if (m.raw_ref) {
    items.push(el("a", {
      class: "attachment raw", "data-testid": "email-raw", download: `message-${m.id}.eml`,
      href: `/api/v1/messages/${m.id}/raw`, text: "Original (.eml)",
    }));
  }
  const skipped = attr(m, "email.skipped_attachments");
  if (skipped) items.push(el("span", { class: "muted small", text: `Not stored: ${skipped}` }));
  return items.length ? el("div", { class: "attachments" }, items) : null;
}

/**
 * The body of an email message (replaces the plain bubble), or null for other channels.
 * @param {Message} m
 */
export function emailBody(m) {
  if (m.channel !== "email") return null;
  /** @type {HTMLElement[]} */
  const parts = [];
  if (attr(m, "email.malformed") === "true") {
    parts.push(el("div", {
      class: "email-flag", role: "note", "data-testid": "email-malformed",
      title: attr(m, "email.defects"),
      text: "⚠ This email is malformed; showing what could be read. The original is kept.",
    }));
  }
  if (attr(m, "email.bounce") === "true") {
    parts.push(el("div", { class: "email-flag", role: "note", text: "Delivery failure report" }));
  }
  const to = attr(m, "email.to");
  if (to && m.direction === "out") parts.push(el("div", { class: "email-meta muted small", "data-testid": "email-to", text: `To: ${to}` }));
  const cc = attr(m, "email.cc");
  if (cc) parts.push(el("div", { class: "email-meta muted small", text: `Cc: ${cc}` }));
  parts.push(el("div", { class: "email-text", "data-testid": "email-text", text: m.text || "" }));
  const quoted = attr(m, "email.quoted");
  if (quoted) {
    const pre = el("pre", { class: "email-quoted", "data-testid": "email-quoted", text: quoted });
    parts.push(toggle("Show quoted text", "Hide quoted text", "email-quoted-toggle", shownQuoted, m.id, pre), pre);
  }
  if (m.html) {
    const holder = el("div", { class: "email-html-holder" });
    const urls = remoteImageUrls(m);
    // The frame is built when first shown, on whichever live copy shows it (a click on a
    // copy a re-render is replacing shows on the new one too).
    const fill = () => {
      if (shownHtml.has(m.id) && !holder.firstChild) holder.append(htmlFrame(m, urls));
    };
    const btn = toggle("Show formatted version", "Hide formatted version", "email-html-toggle", shownHtml, m.id, holder, fill);
    parts.push(btn, holder);
  }
  const files = downloads(m);
  return el("div", { class: "bubble email-body", "data-testid": "email-body" }, parts, files);
}

/**
 * The subject line under the conversation title (email cases).
 * @param {Conversation | null | undefined} conv
 */
export function subjectLine(conv) {
  if (!conv || !conv.subject) return null;
  return el("div", { class: "thread-subject", "data-testid": "thread-subject", title: conv.subject, text: conv.subject });
}
