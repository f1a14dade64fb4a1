// fetchJson turns refusals into Errors carrying the server's reason and status.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { fetchJson } from "../lib/http.js";

const realFetch = globalThis.fetch;
afterEach(() => { globalThis.fetch = realFetch; });

/** @param {number} status @param {unknown} body */
function answer(status, body) {
  const calls = [];
  globalThis.fetch = async (url, init) => {
    calls.push([url, init]);
    return new Response(body === undefined ? null : JSON.stringify(body), { status });
  };
  return calls;
}

test("a JSON body is sent with its content type, extra headers kept", async () => {
  const calls = answer(200, { ok: true });
  assert.deepEqual(await fetchJson("/x", { method: "PUT", body: { a: 1 }, headers: { "If-Match": "3" } }), { ok: true });
  const [url, init] = calls[0];
  assert.equal(url, "/x");
  assert.equal(init.method, "PUT");
  assert.equal(init.body, '{"a":1}');
  assert.deepEqual(init.headers, { "Content-Type": "application/json", "If-Match": "3" });
  assert.equal(init.credentials, "same-origin");
});

test("a refusal carries the server's reason, status and body", async () => {
  answer(422, { error: "invalid_config", reason: "fields[2].options: required", path: "fields[2].options" });
  await assert.rejects(fetchJson("/x"), (err) => {
    assert.equal(err.message, "fields[2].options: required");
    assert.equal(err.status, 422);
    assert.equal(err.data.path, "fields[2].options");
    return true;
  });
});

test("no reason: the error code, else the HTTP status; an empty 2xx body is null", async () => {
  answer(409, { error: "stale" });
  await assert.rejects(fetchJson("/x"), /stale/);
  answer(500, undefined);
  await assert.rejects(fetchJson("/x"), /HTTP 500/);
  answer(204, undefined);
  assert.equal(await fetchJson("/x"), null);
});
