// @ts-check
// Settings page (admins): inboxes with their provider accounts, and agents, over the
// admin REST API (docs/admin.md). Every rule is checked by the server; its reason is
// shown next to the form. Secrets are shown once, right after they are made.

import { api, field, flash, form, h, secretBox } from "./admin-kit.js";
import { prechatEditor } from "./admin-prechat.js";
import { membersEditor, missingList, routingEditor, setupPill } from "./admin-setup.js";

/** @typedef {import("./lib/types.js").AdminInbox} AdminInbox */
/** @typedef {import("./lib/types.js").AdminAgent} AdminAgent */
/** @typedef {import("./lib/http.js").HttpError} HttpError */

/** @type {Record<string, string[]>} channel -> its providers */
const PROVIDERS = { sms: ["twilio"], whatsapp: ["twilio", "meta"], messenger: ["meta"], instagram: ["meta"], telegram: ["telegram"] };
/** @type {Record<string, [name: string, label: string, secret: boolean][]>} */
const ACCOUNT_FIELDS = {
  twilio: [["external_id", "Number (E.164)", false], ["account_sid", "Account SID", true], ["auth_token", "Auth token", true]],
  meta: [["external_id", "Page / Instagram / phone number id", false], ["access_token", "Access token", true], ["app_secret", "App secret", true], ["verify_token", "Verify token", true]],
  telegram: [["external_id", "Bot id", false], ["access_token", "Bot token", true], ["secret_token", "Webhook secret token", true]],
};
const CHANNELS = ["chat", "email", "sms", "whatsapp", "messenger", "instagram", "telegram", "api", "voice"];
const ROLES = ["agent", "supervisor", "admin"];

/**
 * @type {{inboxes: AdminInbox[], queues: string[], agents: AdminAgent[], routingQueues: string[],
 *   inbox: string | null, agent: number | null, tab: string, loaded: boolean}} `inbox`/`agent`: the selected one
 */
const state = { inboxes: [], queues: [], agents: [], routingQueues: [], inbox: null, agent: null, tab: "inboxes", loaded: false };

/** The page's own sections (admin.html). @param {string} id */
const section = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @param {unknown} e a refusal (fetchJson) */
const reason = (e) => /** @type {HttpError} */ (e).message;

/**
 * An input of a form row (every row has it: made by the same function).
 * @param {Element} row
 * @param {string} name
 */
const valueOf = (row, name) => /** @type {HTMLInputElement} */ (row.querySelector(`[name=${name}]`)).value;

// ---- inboxes ---------------------------------------------------------------------------

async function loadInboxes() {
  const data = await api("/api/v1/admin/inboxes");
  state.inboxes = data.inboxes;
  state.queues = data.queues;
}

/** @param {AdminInbox} i */
function accountPill(i) {
  if (!PROVIDERS[i.channel]) return h("span", { class: "acct-pill", text: "—" });
  return i.account ? h("span", { class: "acct-pill ok", text: `${i.account.provider} · ${i.account.external_id}` })
    : h("span", { class: "acct-pill warn", text: "no account" });
}

/** @param {Record<string, string> | null} [shown] secrets to show once */
function renderInboxes(shown) {
  const root = section("inboxes");
  const table = h("table", { class: "admin-table", "data-testid": "inbox-table" },
    h("thead", {}, h("tr", {}, ...["Inbox", "Name", "Channel", "Queue", "Provider account", "Setup"].map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, ...state.inboxes.map((i) => h("tr", {
      "data-inbox": i.slug, "aria-selected": String(state.inbox === i.slug), tabindex: "0",
      onclick: () => { state.inbox = i.slug; renderInboxes(); },
      onkeydown: (/** @type {KeyboardEvent} */ e) => { if (e.key === "Enter") { state.inbox = i.slug; renderInboxes(); } },
    }, h("td", { text: i.slug }), h("td", { text: i.name }), h("td", { text: i.channel }), h("td", { text: i.default_queue }), h("td", {}, accountPill(i)),
    h("td", {}, setupPill(i.missing))))));
  const create = form("new-inbox", [
    field("slug", "Slug (in URLs)", { required: true, placeholder: "whatsapp-de" }),
    field("name", "Name", { required: true }),
    field("channel", "Channel", { options: CHANNELS }),
    field("default_queue", "Queue", { options: state.queues }),
    field("email_address", "Mailbox address (email inboxes)", { type: "email", placeholder: "support@example.com" }),
  ], "Create inbox", async (v) => {
    if (!v.email_address) delete v.email_address;
    const r = await api("/api/v1/admin/inboxes", { method: "POST", body: v });
    state.inbox = r.inbox.slug;
    await loadInboxes();
    flash(`Inbox ${r.inbox.slug} created.`);
    renderInboxes(r.secrets);
  });
  const selected = state.inboxes.find((i) => i.slug === state.inbox);
  const secrets = secretBox(shown);
  root.replaceChildren(h("h2", { text: "Inboxes" }), table, ...(secrets ? [secrets] : []),
    ...(selected ? [inboxDetail(selected)] : []), h("h2", { text: "New inbox" }), create);
}

/** @param {AdminInbox} i */
function inboxDetail(i) {
  const edit = form("edit-inbox", [
    field("name", "Name", { value: i.name }),
    field("default_queue", "Queue", { options: state.queues, value: i.default_queue }),
    field("greeting", "Greeting", { value: i.greeting, type: "textarea" }),
    ...(["chat", "voice"].includes(i.channel) ? [field("allowed_origins", "Allowed origins (comma separated, * = any)", { value: i.allowed_origins.join(", ") })] : []),
    ...(i.channel === "email" ? [field("email_address", "Mailbox address", { value: i.email_address }), field("email_display_name", "Display name", { value: i.email_display_name })] : []),
    ...(i.channel === "api" ? [field("webhook_url", "Webhook URL (replies)", { value: i.webhook_url })] : []),
  ], "Save", async (v) => {
    const body = /** @type {Record<string, unknown>} */ (v); // the same object, origins as a list
    if ("allowed_origins" in v) body.allowed_origins = v.allowed_origins.split(",").map((s) => s.trim()).filter(Boolean);
    await api(`/api/v1/admin/inboxes/${encodeURIComponent(i.slug)}`, { method: "PATCH", body });
    await loadInboxes();
    flash(`Inbox ${i.slug} saved.`);
    renderInboxes();
  });
  /** @type {HTMLElement[]} */
  const parts = [h("h2", { text: `Inbox ${i.slug} · ${i.channel}` }), missingList(i.missing, "inbox-missing"), edit,
    h("h2", { text: "Members" }), membersEditor(i, state.agents, async (_inbox, text) => {
      await Promise.all([loadInboxes(), loadAgents()]);
      flash(text);
      renderInboxes();
    })];
  if (PROVIDERS[i.channel]) parts.push(h("h2", { text: "Provider account" }), accountForm(i));
  if (i.channel === "email") parts.push(h("h2", { text: "Automatic acknowledgement" }), ackEditor(i));
  if (i.channel === "chat") parts.push(h("h2", { text: "Pre-chat form" }), prechatEditor(i, { h, field, flash }));
  if (i.channel === "whatsapp" && i.account && i.account.provider === "meta") {
    parts.push(h("h2", { text: "WhatsApp templates" }), templateEditor(i));
  }
  if (["api", "chat"].includes(i.channel)) {
    parts.push(h("p", {}, h("button", {
      type: "button", class: "btn", "data-testid": "rotate-secret",
      text: i.channel === "api" ? "New API token" : "New identity secret",
      onclick: async () => {
        if (!confirm("The current secret stops working. Continue?")) return;
        try {
          const r = await api(`/api/v1/admin/inboxes/${encodeURIComponent(i.slug)}/rotate-secret`, { method: "POST" });
          renderInboxes(r.secrets);
        } catch (e) { flash(`Could not rotate: ${reason(e)}`); }
      },
    })));
  }
  parts.push(h("dl", { class: "setup", "data-testid": "setup" }, ...Object.entries(/** @type {Record<string, string>} */ (i.setup)).flatMap(([k, v]) => [h("dt", { text: k.replaceAll("_", " ") }), h("dd", {}, h("code", { text: v }))])));
  return h("div", { class: "inbox-detail", "data-testid": "inbox-detail" }, ...parts);
}

/** @param {AdminInbox} i */
function accountForm(i) {
  const providers = PROVIDERS[i.channel];
  /** @type {Record<string, any>} */
  const current = i.account || {};
  const holder = h("div");
  /** @param {string} provider */
  const draw = (provider) => {
    const fields = ACCOUNT_FIELDS[provider].map(([name, label, secret]) => field(name, label, secret
      ? { type: "password", placeholder: current.provider === provider && current[name] ? `unchanged (${current[name]})` : "required" }
      : { value: current.provider === provider ? current.external_id : "" }));
    if (provider === "meta" && ["messenger", "instagram"].includes(i.channel)) {
      const now = current.human_agent === true ? "on" : current.human_agent === false ? "off" : "default";
      fields.push(field("human_agent", "Reply up to 7 days (HUMAN_AGENT tag)", { options: ["default", "on", "off"], value: now }));
    }
    holder.replaceChildren(form("account-form", [
      field("provider", "Provider", { options: providers, value: provider, testid: "field-provider" }), ...fields,
    ], "Save account", async (v) => {
      const tag = v.human_agent;
      delete v.human_agent;
      /** @type {Record<string, unknown>} */
      const body = Object.fromEntries(Object.entries(v).filter(([, val]) => val !== ""));
      if (tag === "on" || tag === "off") body.human_agent = tag === "on";
      await api(`/api/v1/admin/inboxes/${encodeURIComponent(i.slug)}/account`, { method: "PUT", body });
      await loadInboxes();
      flash(`Account of ${i.slug} saved.`);
      renderInboxes();
    }));
    /** @type {HTMLSelectElement} */ (holder.querySelector("[name=provider]"))
      .addEventListener("change", (e) => draw(/** @type {HTMLSelectElement} */ (e.target).value));
  };
  draw(current.provider || providers[0]);
  return holder;
}

/** Approved templates agents may send when the 24 h window is closed (names and
 * languages as in Meta's WhatsApp Manager).
 * @param {AdminInbox} i
 */
function templateEditor(i) {
  const holder = h("div", { "data-testid": "template-editor" }, h("p", { class: "muted", text: "Loading…" }));
  const url = `/api/v1/admin/inboxes/${encodeURIComponent(i.slug)}/templates`;
  const rowOf = (/** @type {{name: string, language: string, body: string}} */ t = { name: "", language: "en", body: "" }) => h("div", { class: "template-row", "data-testid": "template-row" },
    field("name", "Name", { value: t.name, testid: "template-name" }),
    field("language", "Language", { value: t.language, testid: "template-language" }),
    field("body", "Body ({{1}}, {{2}} … are filled in by the agent)", { value: t.body, type: "textarea", testid: "template-body" }),
    h("button", { type: "button", class: "btn btn-ghost", text: "Remove", onclick: (/** @type {MouseEvent} */ e) => removeRow(e, ".template-row") }));
  /** @param {{name: string, language: string, body: string}[]} templates */
  const draw = (templates) => {
    const rows = h("div", { class: "template-rows" }, ...templates.map(rowOf));
    const error = h("div", { class: "error", role: "alert", "data-testid": "form-error", hidden: true });
    holder.replaceChildren(h("div", { class: "admin-form" }, rows, error, h("div", { class: "actions" },
      h("button", { type: "button", class: "btn", text: "Add template", "data-testid": "template-add", onclick: () => rows.append(rowOf()) }),
      h("button", { type: "button", class: "btn btn-primary", text: "Save templates", "data-testid": "template-save",
        onclick: async () => {
          error.hidden = true;
          const body = [...rows.querySelectorAll(".template-row")].map((r) => ({
            name: valueOf(r, "name").trim(), language: valueOf(r, "language").trim(),
            body: valueOf(r, "body") }));
          try {
            draw((await api(url, { method: "PUT", body })).templates);
            flash(`Templates of ${i.slug} saved.`);
          } catch (e) { error.textContent = reason(e); error.hidden = false; }
        } }))));
  };
  api(url).then((r) => draw(r.templates)).catch((e) => holder.replaceChildren(h("p", { class: "error", text: reason(e) })));
  return holder;
}

/** The email inbox's acknowledgement: on/off and its own text per language ({name},
 * {case}); without any, the built-in texts in five languages are used.
 * @param {AdminInbox} i
 */
function ackEditor(i) {
  const holder = h("div", { "data-testid": "ack-editor" }, h("p", { class: "muted", text: "Loading…" }));
  const url = `/api/v1/admin/inboxes/${encodeURIComponent(i.slug)}/acknowledgement`;
  const rowOf = (/** @type {{language: string, body: string}} */ t = { language: "", body: "" }) => h("div", { class: "template-row ack-row", "data-testid": "ack-row" },
    field("language", "Language", { value: t.language, testid: "ack-language" }),
    field("body", "Text ({name} and {case} are filled in)", { value: t.body, type: "textarea", testid: "ack-body" }),
    h("button", { type: "button", class: "btn btn-ghost", text: "Remove", onclick: (/** @type {MouseEvent} */ e) => removeRow(e, ".ack-row") }));
  /** @param {{enabled: boolean, templates: {language: string, body: string}[]}} ack */
  const draw = (ack) => {
    const enabled = h("input", { type: "checkbox", "data-testid": "ack-enabled", checked: ack.enabled });
    const rows = h("div", { class: "template-rows" }, ...ack.templates.map(rowOf));
    const error = h("div", { class: "error", role: "alert", "data-testid": "form-error", hidden: true });
    holder.replaceChildren(h("div", { class: "admin-form" },
      h("label", { class: "check" }, enabled, " Send an acknowledgement for every new case"),
      h("p", { class: "muted", text: "Without texts of your own the built-in ones (en, de, fr, es, pl) are used." }),
      rows, error, h("div", { class: "actions" },
        h("button", { type: "button", class: "btn", text: "Add language", "data-testid": "ack-add", onclick: () => rows.append(rowOf()) }),
        h("button", { type: "button", class: "btn btn-primary", text: "Save acknowledgement", "data-testid": "ack-save",
          onclick: async () => {
            error.hidden = true;
            const templates = [...rows.querySelectorAll(".ack-row")].map((r) => ({
              language: valueOf(r, "language").trim(), body: valueOf(r, "body") }));
            try {
              draw(await api(url, { method: "PUT", body: { enabled: enabled.checked, templates } }));
              flash(`Acknowledgement of ${i.slug} saved.`);
            } catch (e) { error.textContent = reason(e); error.hidden = false; }
          } }))));
  };
  api(url).then(draw).catch((e) => holder.replaceChildren(h("p", { class: "error", text: reason(e) })));
  return holder;
}

/**
 * "Remove" of an editor row: the row it sits in goes.
 * @param {MouseEvent} e
 * @param {string} rowSelector
 */
function removeRow(e, rowSelector) {
  /** @type {Element} */ (/** @type {Element} */ (e.target).closest(rowSelector)).remove();
}

// ---- agents ----------------------------------------------------------------------------

async function loadAgents() {
  const data = await api("/api/v1/admin/agents");
  state.agents = data.agents;
  state.routingQueues = data.routing_queues || [];
}

/** @param {string[]} selected slugs */
function inboxChecks(selected) {
  return h("fieldset", { class: "admin-inboxes" }, h("legend", { text: "Inboxes" }),
    ...state.inboxes.map((i) => h("label", {}, h("input", { type: "checkbox", name: `inbox:${i.slug}`, checked: selected.includes(i.slug) }), ` ${i.slug}`)));
}

/** @param {Record<string, string>} v the form's values */
function pickedInboxes(v) {
  return Object.keys(v).filter((k) => k.startsWith("inbox:")).map((k) => k.slice(6));
}

function renderAgents() {
  const root = section("agents");
  const table = h("table", { class: "admin-table", "data-testid": "agent-table" },
    h("thead", {}, h("tr", {}, ...["Name", "Email", "Role", "Status", "Inboxes", "Setup"].map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, ...state.agents.map((a) => h("tr", {
      "data-agent": String(a.id), "aria-selected": String(state.agent === a.id), tabindex: "0",
      onclick: () => { state.agent = a.id; renderAgents(); },
    }, h("td", { text: a.name }), h("td", { text: a.email }), h("td", { text: a.role }),
    h("td", {}, h("span", { class: a.active ? "acct-pill ok" : "acct-pill warn", text: a.active ? "active" : "deactivated" })),
    h("td", { text: a.inboxes.join(", ") }), h("td", {}, setupPill(a.missing))))));
  const selected = state.agents.find((a) => a.id === state.agent);
  const create = form("new-agent", [
    field("name", "Name", { required: true }), field("email", "Email", { type: "email", required: true }),
    field("role", "Role", { options: ROLES }), field("password", "Initial password (10+ characters)", { type: "password", required: true }),
    inboxChecks([]),
  ], "Create agent", async (v) => {
    const r = await api("/api/v1/admin/agents", { method: "POST", body: { name: v.name, email: v.email, role: v.role, password: v.password, inboxes: pickedInboxes(v) } });
    state.agent = r.agent.id;
    await loadAgents();
    flash(`Agent ${r.agent.email} created.`);
    renderAgents();
  });
  root.replaceChildren(h("h2", { text: "Agents" }), table, ...(selected ? [agentDetail(selected)] : []), h("h2", { text: "New agent" }), create);
}

/** @param {AdminAgent} a */
function agentDetail(a) {
  const routing = routingEditor(a, state.routingQueues, async (text) => {
    await loadAgents();
    await loadInboxes(); // an inbox's queue may be staffed now
    flash(text);
    renderAgents();
  });
  return h("div", { "data-testid": "agent-detail" }, h("h2", { text: `${a.name} · ${a.email}` }),
    missingList(a.missing, "agent-missing"), form("edit-agent", [
    field("name", "Name", { value: a.name }), field("role", "Role", { options: ROLES, value: a.role }),
    field("active", "Status", { options: ["active", "deactivated"], value: a.active ? "active" : "deactivated" }),
    field("password", "New password (leave empty to keep)", { type: "password" }),
    inboxChecks(a.inboxes),
  ], "Save agent", async (v) => {
    /** @type {Record<string, unknown>} */
    const body = { name: v.name, role: v.role, active: v.active === "active", inboxes: pickedInboxes(v) };
    if (v.password) body.password = v.password;
    await api(`/api/v1/admin/agents/${a.id}`, { method: "PATCH", body });
    await Promise.all([loadAgents(), loadInboxes()]);
    flash(`Agent ${a.email} saved.`);
    renderAgents();
  }), h("h2", { text: "Routing profile" }), routing);
}

// ---- page ------------------------------------------------------------------------------

/** @param {string} tab */
function showTab(tab) {
  state.tab = tab;
  for (const b of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll(".admin-tabs [data-tab]"))) b.setAttribute("aria-pressed", String(b.dataset.tab === tab));
  section("inboxes").hidden = tab !== "inboxes";
  section("agents").hidden = tab !== "agents";
  section("bots").hidden = tab !== "bots"; // rendered by admin-bots.js
  section("sla").hidden = tab !== "sla"; // rendered by admin-sla.js
  // The inbox choices follow inboxes made meanwhile. Not before the first load: main()
  // renders then, and would replace a form the admin had already started typing into.
  if (tab === "agents" && state.loaded) renderAgents();
}

async function main() {
  for (const b of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll(".admin-tabs [data-tab]"))) b.addEventListener("click", () => showTab(b.dataset.tab || ""));
  try {
    await Promise.all([loadInboxes(), loadAgents()]);
  } catch (e) {
    flash(`Could not load the settings: ${reason(e)}`);
    return;
  }
  state.loaded = true;
  renderInboxes();
  renderAgents();
  document.body.dataset.ready = "true";
}

main();
