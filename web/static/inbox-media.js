// @ts-check
// Messaging media in the agent inbox (WhatsApp, SMS/MMS, Messenger, Instagram, Telegram):
// images inline (lazy), audio and video with native controls, everything else a download
// link with name, type and size. The bytes come through the hub's media proxy
// (/api/v1/messages/{id}/attachments/{n}, docs/channels.md "Media"); the hub keeps only
// the provider reference. An attachment the hub knows is too large or expired shows a
// label and is never requested; one that fails to load asks the proxy why (HEAD) and
// shows that instead of a broken image.
//
// inbox.js re-renders the message list often: the nodes are kept per message/attachment
// so an image is not reloaded (or a playing video restarted) on every render.

import { el } from "./lib/dom.js";
import { fileSize } from "./lib/format.js";

/** @typedef {import("./lib/types.js").Message} Message */
/** @typedef {import("./lib/types.js").Attachment} Attachment */

// Must match web/routes_media.py INLINE_TYPES (images; audio/video are picked by prefix).
const INLINE_IMAGES = new Set([
  "image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/avif", "image/*",
]);
/** @type {Record<string, string>} */
const LABELS = {
  too_large: "too large to show here (over the hub's media size limit)",
  expired: "no longer available from the provider",
  error: "could not be loaded from the provider",
};

const MAX_NODES = 400;
/** @type {Map<string, {key: string, node: HTMLElement}>} "id/index" -> its node, oldest first */
const nodes = new Map();
/** @type {Map<string, string>} "id/index" -> state found by asking the proxy */
const learned = new Map();

/**
 * @param {Message} m
 * @param {number} i
 */
function mediaUrl(m, i) {
  return `/api/v1/messages/${encodeURIComponent(m.id)}/attachments/${i}`;
}

/**
 * @param {string | null | undefined} contentType
 * @returns {"image" | "audio" | "video" | "file"}
 */
export function mediaKind(contentType) {
  const t = String(contentType || "").toLowerCase().split(";")[0].trim();
  if (INLINE_IMAGES.has(t)) return "image";
  if (t.startsWith("audio/")) return "audio";
  if (t.startsWith("video/")) return "video";
  return "file";
}



/** @param {Attachment} a */
function describe(a) {
  return [a.content_type && a.content_type !== "application/octet-stream" ? a.content_type : "",
    fileSize(a.size)].filter(Boolean).join(" · ");
}

/**
 * @param {Message} m
 * @param {Attachment} a
 * @param {number} i its index on the message
 * @param {string} state
 * @returns {HTMLDivElement}
 */
function unavailable(m, a, i, state) {
  const name = a.filename || `attachment ${i + 1}`;
  const box = el("div", {
    class: `media-unavailable ${state}`, role: "note", "data-testid": "media-unavailable",
    "data-state": state, title: describe(a),
  }, el("span", { class: "media-unavailable-name", text: name }),
  el("span", { text: ` — ${LABELS[state] || LABELS.error}` }));
  if (state === "error") {
    box.append(" ", el("button", {
      type: "button", class: "link", "data-testid": "media-retry", text: "Retry",
      onclick: () => {
        const k = `${m.id}/${i}`;
        learned.delete(k);
        nodes.delete(k);
        box.replaceWith(attachmentNode(m, a, i));
      },
    }));
  }
  return box;
}

/** A media element failed: ask the proxy why (HEAD: nothing is downloaded) and put a
 * label in its place. A 200 means the browser could not play it: offer the download.
 * @param {Message} m
 * @param {Attachment} a
 * @param {number} i its index on the message
 * @param {HTMLElement} holder
 */
async function explain(m, a, i, holder) {
  const k = `${m.id}/${i}`;
  let state = "error";
  try {
    const resp = await fetch(mediaUrl(m, i), { method: "HEAD", credentials: "same-origin" });
    if (resp.status === 413) state = "too_large";
    else if (resp.status === 410) state = "expired";
    else if (resp.ok) state = "unplayable";
  } catch {
    state = "error";
  }
  const replacement = state === "unplayable" ? fileLink(m, a, i) : unavailable(m, a, i, state);
  if (state !== "unplayable") learned.set(k, state);
  nodes.set(k, { key: nodeKey(m, a, i), node: replacement });
  holder.replaceWith(replacement);
}

/**
 * @param {Message} m
 * @param {Attachment} a
 * @param {number} i its index on the message
 */
function fileLink(m, a, i) {
  const name = a.filename || `attachment ${i + 1}`;
  return el("a", {
    class: "attachment media-file", "data-testid": "media-file", href: mediaUrl(m, i),
    download: name, title: describe(a),
  }, el("span", { class: "media-file-name", text: name }),
  describe(a) ? el("span", { class: "media-meta", text: ` ${describe(a)}` }) : null);
}

/**
 * @param {Message} m
 * @param {Attachment} a
 * @param {number} i its index on the message
 */
function caption(m, a, i) {
  const name = a.filename || `attachment ${i + 1}`;
  return el("div", { class: "media-caption" },
    el("a", { href: mediaUrl(m, i), download: name, "data-testid": "media-download", text: name }),
    describe(a) ? el("span", { class: "media-meta", text: ` ${describe(a)}` }) : null);
}

/**
 * @param {Message} m
 * @param {Attachment} a
 * @param {number} i its index on the message
 * @param {"image" | "audio" | "video"} kind
 */
function player(m, a, i, kind) {
  const holder = el("figure", { class: `media-item media-${kind}`, "data-testid": `media-${kind}` });
  const fail = () => explain(m, a, i, holder);
  let media;
  if (kind === "image") {
    media = el("img", {
      src: mediaUrl(m, i), loading: "lazy", decoding: "async", alt: a.filename || "image",
      referrerpolicy: "no-referrer", onerror: fail,
    });
    holder.append(el("a", { href: mediaUrl(m, i), target: "_blank", rel: "noopener", title: "Open full size" }, media));
  } else {
    // preload "none": nothing is pulled through the proxy until the agent presses play.
    media = el(kind, { src: mediaUrl(m, i), controls: true, preload: "none", onerror: fail });
    holder.append(media);
  }
  holder.append(caption(m, a, i));
  return holder;
}

/**
 * @param {Message} m
 * @param {Attachment} a
 * @param {number} i its index on the message
 */
function nodeKey(m, a, i) {
  return `${a.ref}|${a.state || "available"}|${learned.get(`${m.id}/${i}`) || ""}`;
}

/**
 * @param {Message} m
 * @param {Attachment} a
 * @param {number} i its index on the message
 * @returns {HTMLElement}
 */
function attachmentNode(m, a, i) {
  const k = `${m.id}/${i}`;
  const key = nodeKey(m, a, i);
  const hit = nodes.get(k);
  if (hit && hit.key === key) return hit.node;
  const state = (a.state && a.state !== "available") ? a.state : learned.get(k);
  const kind = mediaKind(a.content_type);
  const node = state ? unavailable(m, a, i, state)
    : kind === "file" ? fileLink(m, a, i)
      : player(m, a, i, kind);
  nodes.set(k, { key, node });
  while (nodes.size > MAX_NODES) nodes.delete(/** @type {string} */ (nodes.keys().next().value));
  return node;
}

/**
 * The attachments of a non-email message, or null (email renders its own).
 * @param {Message | null | undefined} m
 */
export function messageMedia(m) {
  if (!m || m.channel === "email" || !Array.isArray(m.attachments) || !m.attachments.length) return null;
  return el("div", { class: "attachments media-list", "data-testid": "media-list" },
    m.attachments.map((/** @type {Attachment} */ a, /** @type {number} */ i) => attachmentNode(m, a, i)));
}
