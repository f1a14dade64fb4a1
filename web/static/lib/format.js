// @ts-check
// Times, dates, durations, sizes and amounts for people. Dates go through the browser's
// built-in Intl (the user's locale and time zone); no date library is needed.

export const CURRENCY = "EUR";

/**
 * @param {string | number | Date | null | undefined} v
 * @returns {Date | null} null when missing or unparseable
 */
function toDate(v) {
  if (v === null || v === undefined || v === "") return null;
  const d = v instanceof Date ? v : new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * "14:05" in the user's locale; now when `iso` is missing, "" when unparseable.
 * @param {string | null | undefined} iso
 * @returns {string}
 */
export function clock(iso) {
  const d = iso ? toDate(iso) : new Date();
  return d ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
}

/**
 * "12 Mar 2026"; the input itself when unparseable.
 * @param {string | null | undefined} iso
 * @returns {string}
 */
export function date(iso) {
  const d = toDate(iso);
  return d ? d.toLocaleDateString([], { day: "numeric", month: "short", year: "numeric" }) : String(iso || "");
}

/**
 * Date and time in the user's locale ("12/03/2026, 14:05"); "" when missing or unparseable.
 * @param {string | null | undefined} iso
 * @returns {string}
 */
export function dateTime(iso) {
  const d = toDate(iso);
  return d ? d.toLocaleString() : "";
}

/**
 * "Today", "Yesterday" or "Thu, 12 Mar 2026" (day separators); today when missing.
 * @param {string | null | undefined} iso
 * @param {Date} [today]
 * @returns {string}
 */
export function dayLabel(iso, today = new Date()) {
  const d = iso ? toDate(iso) : new Date(today);
  if (!d) return "";
  const y = new Date(today);
  y.setDate(today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) return "Today";
  if (d.toDateString() === y.toDateString()) return "Yesterday";
  return d.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short", year: "numeric" });
}

/**
 * Compact age for lists: "now", "5m", "3h", "2d", then the date ("12 Mar").
 * @param {string | null | undefined} iso
 * @param {number} [now] ms since the epoch
 * @returns {string}
 */
export function relTime(iso, now = Date.now()) {
  const t = Date.parse(iso || "");
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 45) return "now";
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 86400) return `${Math.round(s / 3600)}h`;
  if (s < 7 * 86400) return `${Math.round(s / 86400)}d`;
  return new Date(t).toLocaleDateString([], { day: "numeric", month: "short" });
}

/**
 * A waiting time: "42s", "3m 05s", "2h 10m".
 * @param {number} seconds
 * @returns {string}
 */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds) || 0);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/**
 * A file size: "512 B", "12 kB", "3.4 MB"; "" for nothing or nonsense.
 * @param {number | string | null | undefined} bytes
 * @returns {string}
 */
export function fileSize(bytes) {
  const n = Number(bytes) || 0;
  if (n <= 0) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} kB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** @type {Intl.NumberFormat | null} */
let moneyFmt = null;

/**
 * An amount in CURRENCY in the user's locale; the input itself when not a number.
 * @param {number | string | null | undefined} v
 * @returns {string}
 */
export function money(v) {
  const n = typeof v === "number" ? v : parseFloat(String(v));
  if (!Number.isFinite(n)) return String(v ?? "");
  moneyFmt = moneyFmt || new Intl.NumberFormat(undefined, { style: "currency", currency: CURRENCY });
  return moneyFmt.format(n);
}

/**
 * Length as the server counts it: code points (an emoji is one).
 * @param {string} text
 * @returns {number}
 */
export function codePoints(text) {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/**
 * A message against the server's limits: `{count, near, reason}`; `reason` (non-empty)
 * means refused, and the text is never cut. `near` from `counterFrom` (a fraction) of the
 * limit. With `frameBytes` (the socket's frame limit) a text whose JSON-escaped UTF-8
 * would not fit one frame (less 1 KiB for the envelope) is refused too. No limit known
 * (0, before the first hello): the server alone refuses.
 * @param {string} text
 * @param {number} max in code points; 0 = unknown
 * @param {{counterFrom?: number, frameBytes?: number}} [opts]
 * @returns {{count: number, near: boolean, reason: string}}
 */
export function textSize(text, max, { counterFrom = 0.8, frameBytes = 0 } = {}) {
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
