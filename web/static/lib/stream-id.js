// @ts-check
// Redis stream ids ("<ms>-<seq>") as the hub sends them in `last_id`, `event.id` and
// `last_event_id`. Compared numerically (BigInt), never as strings ("9-0" < "10-0").

/**
 * Compare two stream ids; a missing id sorts first.
 * @param {string | null | undefined} a
 * @param {string | null | undefined} b
 * @returns {number} -1, 0 or 1
 */
export function cmpStreamId(a, b) {
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

/**
 * The later of two stream ids.
 * @template {string | null | undefined} T
 * @param {T} a
 * @param {T} b
 * @returns {T}
 */
export const maxStreamId = (a, b) => (cmpStreamId(a, b) >= 0 ? a : b);

/**
 * The earlier of two stream ids; a missing id is ignored.
 * @template {string | null | undefined} T
 * @param {T} a
 * @param {T} b
 * @returns {T}
 */
export const minStreamId = (a, b) => (!a ? b : !b ? a : cmpStreamId(a, b) <= 0 ? a : b);

/**
 * The client_id a stored message came from: the hub namespaces provider ids
 * ("visitor:<id>:<client_id>", "agent:<id>:<client_id>"), so take the last ':'-separated
 * part (UUIDs have none).
 * @param {string | null | undefined} providerId
 * @returns {string}
 */
export function clientIdOf(providerId) {
  return providerId ? String(providerId).split(":").pop() || "" : "";
}

/**
 * A random UUID v4 (the client_id of a message); crypto.randomUUID needs a secure context,
 * so shop pages on plain http fall back to getRandomValues.
 * @returns {string}
 */
export function uuid() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
