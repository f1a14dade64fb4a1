// @ts-check
// The shapes the hub sends to the browser (docs/realtime-protocol.md): REST snapshots,
// socket frames and events. Types only (JSDoc typedefs, checked by tsc); nothing at run
// time. Modules import them with `@typedef {import("./lib/types.js").Message} Message`.
//
// Fields the front end does not read are left to the `[field: string]: any` index, so a
// new server field never needs a change here.

/** @typedef {string | null} StreamId a Redis stream id ("ms-seq"), null when unknown */

/**
 * A message as REST and the `message.*` events carry it (the hub always sets its author,
 * hub/schema.py Message).
 * @typedef {{id: number, conversation_id: number, direction?: string, private?: boolean,
 *   provider_id?: string | null, created_at?: string, status?: string, text?: string,
 *   author?: {kind: string, name?: string | null, agent_id?: number | null}, _v?: StreamId,
 *   [field: string]: any}} Message
 *   `_v` (inbox only): the stream id of the snapshot or event that last set its fields
 */

/**
 * A file on a message (messaging media and email attachments; docs/channels.md "Media").
 * `state`: "available" (or absent), "too_large", "expired".
 * @typedef {{filename?: string, content_type?: string, size?: number, ref?: string, state?: string,
 *   [field: string]: any}} Attachment
 */

/**
 * A message as the widget keeps it (the visitor's view: conversation_id may be absent).
 * @typedef {{id: number, conversation_id?: number, direction?: string, private?: boolean,
 *   provider_id?: string | null, status?: string, text?: string, created_at?: string,
 *   author?: {kind?: string, name?: string} | null, [field: string]: any}} WidgetMessage
 */

/**
 * A conversation as REST and the `conversation.*` events carry it.
 * @typedef {{id: number, status: string, channel: string, assignee_id?: number | null,
 *   assignee_name?: string, last_message?: Message | null, last_message_at?: string | null,
 *   created_at?: string, _v?: StreamId, [field: string]: any}} Conversation
 *   `_v`: the stream id of the snapshot or event that last set its fields
 */

/** An event of the hub's stream: `type` names it, the rest depends on it. */
/** @typedef {{type: string, [field: string]: any}} HubEvent */

/** @typedef {{conversations?: any[], last_event_id?: StreamId}} ListSnapshot GET /api/conversations */
/** @typedef {{conversation: Conversation, messages?: Message[], last_event_id?: StreamId}} DetailSnapshot GET /api/conversations/{id} */

/**
 * A verification of a claimed email/phone (`verification.updated`, the widget hello's `verification`).
 * @typedef {{verification_id: number, status: string, target?: string, [field: string]: any}} Verification
 */

/**
 * A frame the hub sends over a socket that is not a stream event: `ack`, `error`,
 * `verify_result`, `reload`, … (docs/realtime-protocol.md).
 * @typedef {{type: string, client_id?: string, code?: string, reason?: string,
 *   verification_id?: number, [field: string]: any}} ServerFrame
 */

/**
 * The widget socket's hello (docs/realtime-protocol.md "Widget").
 * @typedef {{type: string, visitor_token?: string, inbox?: {name?: string, greeting?: string} | null,
 *   conversation_id?: number | null, messages?: WidgetMessage[], reset?: boolean, last_id?: StreamId,
 *   prechat?: any, availability?: {online: boolean, reason: string | null, next_open?: string | null},
 *   limits?: {text?: number}, verification?: Verification | null, [field: string]: any}} WidgetHello
 */

/**
 * GET /api/v1/conversations/{id}/reply-options (docs/channels.md "Reply channel").
 * @typedef {{conversation_id: number, channel: string, via: string | null, default_via?: string | null,
 *   routes: {via: string, label: string, [field: string]: any}[], window_open: boolean,
 *   window_reason?: string | null, window_closes_at?: string | null, now?: string,
 *   [field: string]: any}} ReplyOptions
 */

/** @typedef {{name: string, language: string, body: string, params?: number}} WhatsAppTemplate an approved template (ReplyOptions.templates) */

/** @typedef {{kind: string, value: string, [field: string]: any}} Identity a contact's email, phone, visitor id, … */
/**
 * GET /api/v1/contacts/{id}/context: the customer panel (rows as the CRM gives them).
 * @typedef {{contact?: Record<string, any> | null, identities?: Identity[], accounts?: Record<string, any>[],
 *   orders?: Record<string, any>[], invoices?: Record<string, any>[], conversations?: Record<string, any>[],
 *   [field: string]: any}} CustomerContext
 */

/** @typedef {{message: Message & {author: {kind: string, name?: string | null}}}} TimelineItem GET /api/v1/contacts/{id}/timeline items */
/**
 * GET /api/v1/contacts/{id}/identities: proven identities, unproven claims, their
 * verifications, merge suggestions and the pre-chat answers (docs/identity.md).
 * @typedef {{identities: Identity[], claims: (Identity & {source?: string})[],
 *   verifications?: Record<string, any>[], suggestions: {contact_id: number, identity: string, why: string}[],
 *   prechat?: Record<string, any>[], [field: string]: any}} ContactIdentities
 */
/** @typedef {{id: number, role: string, name: string, email?: string, [field: string]: any}} Me the signed-in agent (GET /api/v1/me, hello.agent) */

// ---------------------------------------------------------------- routing (docs/routing.md)

/**
 * An offer to this agent (GET /api/v1/routing/offers, `workitem.offered`), with the
 * inbox's countdown: `expiresMs` (local epoch ms) and `totalMs` (its whole length).
 * @typedef {{work_item_id: number, conversation_id?: number | null, channel: string, queue: string,
 *   contact_name?: string | null, preview?: string | null, subject?: string | null,
 *   expiresMs: number, totalMs: number, [field: string]: any}} Offer
 */
/**
 * A queue's figures (GET /api/v1/routing/queues, `queue.stats`); `at`: when received (ms).
 * @typedef {{queue: string, depth: number, oldest_wait_s: number, offered: number, assigned: number,
 *   agents_available: number, agents_online: number, at: number, [field: string]: any}} QueueStats
 */
/**
 * A work item on the board: waiting (pickable) or held by an agent (active, supervisors).
 * @typedef {{work_item_id: number, conversation_id?: number | null, channel: string, queue: string,
 *   contact_name?: string | null, offered?: boolean, agent_id?: number | null,
 *   agent_name?: string | null, status?: string, [field: string]: any}} BoardItem
 */
/** @typedef {BoardItem & {waiting_s: number}} PickableItem waiting in a queue */
/** @typedef {BoardItem & {held_s: number}} ActiveItem held by an agent (supervisors) */
/** @typedef {{agent_id: number, name: string, presence: string, status?: string, [field: string]: any}} RoutingAgent */

// ---------------------------------------------------------------- voice (docs/voice.md)

/**
 * A call as `call.ringing` / `call.answered` / `call.updated` and the wrap-up carry it.
 * @typedef {{id: number, state: string, direction: string, from_number?: string | null, to_number?: string | null,
 *   duration_s?: number | null, conversation_id?: number | null, agent_id?: number | null,
 *   disposition?: string | null, [field: string]: any}} VoiceCall
 */
/**
 * Where a call script stands (GET/POST /api/v1/conversations/{id}/script).
 * @typedef {{step: string, prompt: string, done?: boolean, options?: {value: string, label: string}[] | null,
 *   input?: string | null, path?: string[], [field: string]: any}} ScriptView
 */
/**
 * A callback request (GET /api/v1/conversations/{id}/callbacks, `callback.updated`).
 * @typedef {{id: number, status: string, phone?: string | null, source?: string, topic?: string | null,
 *   reason?: string, reason_code?: string, [field: string]: any}} CallbackRequest
 */

// ---------------------------------------------------------------- Settings (REST /api/v1/admin/…)

/** @typedef {{code: string, text: string}} MissingItem what an agent or inbox still lacks (docs/admin.md) */
/**
 * @typedef {{queues: string[], skills: Record<string, number>, languages: string[], capacity: number | null}} RoutingProfile
 */
/**
 * An agent as the Settings page lists it.
 * @typedef {{id: number, name: string, email: string, role: string, active: boolean,
 *   routing?: RoutingProfile | null, missing?: MissingItem[], [field: string]: any}} AdminAgent
 */
/**
 * An inbox as the Settings page lists it.
 * @typedef {{slug: string, name: string, channel: string, members: {id: number, [field: string]: any}[],
 *   missing?: MissingItem[], [field: string]: any}} AdminInbox
 */

/**
 * A bot (GET /api/v1/bots; docs/bots.md).
 * @typedef {{id: number, name: string, active: boolean, queues: string[], webhook_url?: string | null,
 *   handoff_after_s?: number, [field: string]: any}} Bot
 */
/**
 * One webhook delivery of a bot (GET /api/v1/bots/{id}/deliveries).
 * @typedef {{status: string, created_at: string, event_type: string, conversation_id: number, attempts: number,
 *   http_status?: number | null, last_error?: string | null, [field: string]: any}} BotDelivery
 */

export {};
