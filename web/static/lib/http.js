// @ts-check
// JSON over fetch for our own pages (same origin, session cookie). A refusal becomes an
// Error carrying the server's reason and the HTTP status, never a raw exception text.

/** @typedef {Error & {status?: number, data?: any}} HttpError */

/**
 * @param {string} path
 * @param {{method?: string, body?: unknown, headers?: Record<string, string>, loginOn401?: boolean}} [opts]
 *   `body` is sent as JSON; `headers` are added (e.g. If-Match);
 *   `loginOn401`: a 401 (session gone) sends the page to /login
 * @returns {Promise<any>} the parsed body (null when empty)
 * @throws {HttpError} with `.status` and the server's `reason` as message
 */
export async function fetchJson(path, { method = "GET", body, headers = {}, loginOn401 = false } = {}) {
  const res = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body !== undefined ? { "Content-Type": "application/json", ...headers } : headers,
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  if (res.status === 401 && loginOn401) location.href = "/login";
  let data = null;
  try { data = await res.json(); } catch (_) { /* empty body */ }
  if (!res.ok) {
    /** @type {HttpError} */
    const err = new Error((data && (data.reason || data.error)) || `HTTP ${res.status}`);
    err.status = res.status;
    err.data = data;
    throw err;
  }
  return data;
}
