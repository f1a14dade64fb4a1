-- Core schema: inboxes, queues, agents, contacts, conversations, messages, work items,
-- customer context (accounts, orders, invoices), event outbox, audit log.

CREATE TABLE queues (
    slug        text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inboxes (
    slug            text PRIMARY KEY CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name            text NOT NULL,
    channel         text NOT NULL,
    default_queue   text NOT NULL REFERENCES queues(slug),
    greeting        text NOT NULL DEFAULT '',
    allowed_origins text[] NOT NULL DEFAULT '{}',
    -- API channel: sha256 hex of the bearer token.
    api_token_hash  text,
    -- Widget identity validation secret (HMAC-SHA256 of the email).
    identity_secret text,
    webhook_url     text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
    password_hash text NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent_inboxes (
    agent_id  bigint NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    inbox     text NOT NULL REFERENCES inboxes(slug) ON DELETE CASCADE,
    PRIMARY KEY (agent_id, inbox)
);

CREATE TABLE agent_queues (
    agent_id  bigint NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    queue     text NOT NULL REFERENCES queues(slug) ON DELETE CASCADE,
    PRIMARY KEY (agent_id, queue)
);

CREATE TABLE sessions (
    token_hash  text PRIMARY KEY,
    agent_id    bigint NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contacts (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL DEFAULT '',
    email       text,
    phone       text,
    locale      text NOT NULL DEFAULT 'en',
    tier        text NOT NULL DEFAULT 'standard',
    -- The identity that created the row; correlates batch inserts with their input.
    seed_key    text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE identities (
    kind        text NOT NULL,
    value       text NOT NULL,
    contact_id  bigint NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value)
);
CREATE INDEX identities_contact ON identities (contact_id);

CREATE TABLE conversations (
    id               bigserial PRIMARY KEY,
    inbox            text NOT NULL REFERENCES inboxes(slug),
    channel          text NOT NULL,
    contact_id       bigint NOT NULL REFERENCES contacts(id),
    contact_identity text NOT NULL DEFAULT '',
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'resolved')),
    assignee_id      bigint REFERENCES agents(id),
    subject          text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_message_at  timestamptz
);
-- One live conversation per contact and inbox: the find-or-create key.
CREATE UNIQUE INDEX conversations_one_open ON conversations (contact_id, inbox)
    WHERE status <> 'resolved';
CREATE INDEX conversations_inbox_status ON conversations (inbox, status, last_message_at DESC);
CREATE INDEX conversations_contact ON conversations (contact_id, created_at DESC);

CREATE TABLE messages (
    id               bigserial PRIMARY KEY,
    conversation_id  bigint NOT NULL REFERENCES conversations(id),
    channel          text NOT NULL,
    channel_account  text NOT NULL,
    provider_id      text NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('in', 'out')),
    author_kind      text NOT NULL,
    author_name      text NOT NULL DEFAULT '',
    agent_id         bigint REFERENCES agents(id),
    text             text NOT NULL DEFAULT '',
    html             text NOT NULL DEFAULT '',
    private          boolean NOT NULL DEFAULT false,
    status           text NOT NULL DEFAULT 'received',
    status_error     text NOT NULL DEFAULT '',
    status_at        timestamptz NOT NULL DEFAULT now(),
    attachments      jsonb NOT NULL DEFAULT '[]',
    ingest_id        text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- Idempotency: one row per provider message, however often it is delivered.
    CONSTRAINT messages_idempotency UNIQUE (channel, channel_account, provider_id)
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);

CREATE TABLE work_items (
    id               bigserial PRIMARY KEY,
    conversation_id  bigint NOT NULL REFERENCES conversations(id),
    queue            text NOT NULL REFERENCES queues(slug),
    channel          text NOT NULL,
    status           text NOT NULL DEFAULT 'queued',
    priority         integer NOT NULL DEFAULT 0,
    agent_id         bigint REFERENCES agents(id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX work_items_one_live ON work_items (conversation_id)
    WHERE status NOT IN ('completed', 'cancelled');
CREATE INDEX work_items_queue ON work_items (queue, status, priority DESC, created_at);

-- Customer context for the 360° view (telecom / triple play).
CREATE TABLE customer_accounts (
    id          bigserial PRIMARY KEY,
    contact_id  bigint NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    account_no  text NOT NULL UNIQUE,
    service     text NOT NULL CHECK (service IN ('tv', 'internet', 'phone')),
    plan        text NOT NULL,
    status      text NOT NULL DEFAULT 'active',
    monthly_fee numeric(10, 2) NOT NULL DEFAULT 0,
    since       date NOT NULL DEFAULT current_date
);
CREATE INDEX customer_accounts_contact ON customer_accounts (contact_id);

CREATE TABLE orders (
    id          bigserial PRIMARY KEY,
    contact_id  bigint NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    order_no    text NOT NULL UNIQUE,
    items       jsonb NOT NULL DEFAULT '[]',
    total       numeric(10, 2) NOT NULL,
    status      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_contact ON orders (contact_id, created_at DESC);

CREATE TABLE invoices (
    id          bigserial PRIMARY KEY,
    contact_id  bigint NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    invoice_no  text NOT NULL UNIQUE,
    amount      numeric(10, 2) NOT NULL,
    due_date    date NOT NULL,
    status      text NOT NULL CHECK (status IN ('open', 'paid', 'overdue')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_contact ON invoices (contact_id, due_date DESC);

-- Transactional outbox: events written in the same transaction as the change, published
-- to the events stream after commit, deleted once published.
CREATE TABLE event_outbox (
    seq         bigserial PRIMARY KEY,
    payload     bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    actor_id    bigint,
    action      text NOT NULL,
    subject     text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
