/*! omnihub chat widget — embed with ONE tag:
 *
 *   <script src="https://HUB/widget.js" data-inbox="web"
 *           data-user-email="…" data-user-hash="…"></script>
 *
 * Built from web/static/src/widget/ and web/static/lib/ by `make frontend` (esbuild);
 * do not edit widget.js by hand. Everything renders inside a Shadow DOM so the host
 * page's CSS cannot break it (and ours cannot leak out).
 *
 * Invariants (see docs/frontend.md):
 *  - events are applied idempotently: messages are upserted by id and shown ordered by id;
 *  - the last event id seen is persisted together with the rendered messages, so a reload or a
 *    reconnect resumes with `last_id` and receives exactly the gap;
 *  - a customer message lives in the outbox (localStorage) until the server `ack`s it, and is
 *    resent with the SAME client_id after every reconnect (the server dedupes on it);
 *  - a message is shown as pending until its `ack` or its `message.created`
 *    (its provider_id ends with ":" + client_id) arrives;
 *  - a new visitor whose hello carries `prechat` sees only the pre-chat form until it is
 *    accepted (its answers and first message go to POST /api/v1/widget/prechat together);
 *    `data-phone-region="DE"` on the tag sets the region for numbers without +<country>.
 */
// @ts-check
import { startWidget } from "./app.js";
import { findScript, readConfig } from "./config.js";

const loaded = /** @type {any} */ (window).OmnihubWidget;
if (!(loaded && loaded.__omnihub)) { // loaded twice: the first one stays
  const script = findScript();
  if (script) startWidget(readConfig(script, location.href));
  else console.error("[omnihub] cannot locate the widget <script> tag");
}
