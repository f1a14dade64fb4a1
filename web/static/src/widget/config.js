// @ts-check
// The widget's configuration, read once from its own <script> tag (docs/frontend.md).

/**
 * @typedef {object} WidgetConfig
 * @property {string} HUB the hub's origin (from the script's own URL)
 * @property {string} WS_BASE ws(s)://HUB/ws/widget
 * @property {string} INBOX data-inbox (default "web")
 * @property {string} USER_EMAIL data-user-email (identified shop user), or ""
 * @property {string} USER_HASH data-user-hash (HMAC of the email), or ""
 * @property {string} COLOR data-color when it is a hex colour, else the default blue
 * @property {string} STORE_KEY the localStorage key of this hub, inbox and user
 * @property {string} VOICE_INBOX data-voice-inbox ("Call me back", docs/voice.md), or ""
 * @property {string} PHONE_REGION data-phone-region (upper-cased), or ""
 */

/**
 * The widget's own <script> tag: currentScript while it runs, else the tag loading
 * widget.js (one with data-inbox first).
 * @returns {HTMLScriptElement | null}
 */
export function findScript() {
  const current = /** @type {HTMLScriptElement | null} */ (document.currentScript);
  if (current) return current;
  const scripts = Array.from(document.querySelectorAll("script[src]"));
  const ours = scripts.filter((s) => /\/widget\.js(\?|#|$)/.test(/** @type {HTMLScriptElement} */ (s).src));
  return /** @type {HTMLScriptElement | null} */ (
    ours.find((s) => /** @type {HTMLScriptElement} */ (s).dataset.inbox) || ours[0] || null);
}

/**
 * @param {HTMLScriptElement} script
 * @param {string} pageHref the embedding page's URL (relative script URLs)
 * @returns {WidgetConfig}
 */
export function readConfig(script, pageHref) {
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
    PHONE_REGION: /^[A-Za-z]{2}$/.test(d.phoneRegion || "") ? String(d.phoneRegion).toUpperCase() : "",
  };
}
