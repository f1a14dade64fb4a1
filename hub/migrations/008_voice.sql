-- Voice: CTI endpoints, agent extensions, call records, callbacks, call scripts,
-- dispositions and wrap-up. See docs/voice.md.

-- One per PBX / provider account. The token in the URL is the credential: only its
-- sha256 is stored; lookups are by hash, then compared in constant time.
CREATE TABLE cti_endpoints (
    id                bigserial PRIMARY KEY,
    inbox             text NOT NULL REFERENCES inboxes(slug),
    name              text NOT NULL DEFAULT '',
    token_hash        text NOT NULL UNIQUE,
    region            text NOT NULL DEFAULT 'DE',   -- for national numbers
    blocked_callers   text[] NOT NULL DEFAULT '{}', -- patterns, '*' wildcard
    caller_id_rules   jsonb NOT NULL DEFAULT '[]',  -- [{"dest": "49*", "caller_id": "49..."}]
    default_caller_id text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- How the PBX names an agent: extension, SIP user or phone number ('answeringNumber').
CREATE TABLE agent_extensions (
    extension  text PRIMARY KEY,
    agent_id   bigint NOT NULL REFERENCES agents(id) ON DELETE CASCADE
);
CREATE INDEX agent_extensions_agent ON agent_extensions (agent_id);

-- Click-to-call: how the hub asks the telephony provider to originate (per inbox).
CREATE TABLE voice_originators (
    inbox     text PRIMARY KEY REFERENCES inboxes(slug),
    kind      text NOT NULL CHECK (kind IN ('twilio', 'ami')),
    config    jsonb NOT NULL DEFAULT '{}'
);

-- One row per call (inbox, PBX call id): the state machine's record.
CREATE TABLE calls (
    id               bigserial PRIMARY KEY,
    inbox            text NOT NULL REFERENCES inboxes(slug),
    call_id          text NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('in', 'out')),
    state            text NOT NULL,
    from_number      text NOT NULL DEFAULT '',
    to_number        text NOT NULL DEFAULT '',
    queue            text NOT NULL DEFAULT '',
    users            text[] NOT NULL DEFAULT '{}',
    answering        text NOT NULL DEFAULT '',
    cause            text NOT NULL DEFAULT '',
    ivr              jsonb NOT NULL DEFAULT '{}',
    agent_id         bigint REFERENCES agents(id),
    conversation_id  bigint REFERENCES conversations(id),
    contact_id       bigint REFERENCES contacts(id),
    message_id       bigint REFERENCES messages(id),
    callback_id      bigint,   -- the callback this call dials (click-to-call)
    started_at       timestamptz NOT NULL,
    answered_at      timestamptz,
    ended_at         timestamptz,
    duration_s       integer,
    disposition      text NOT NULL DEFAULT '',
    notes            text NOT NULL DEFAULT '',
    wrapup_started_at timestamptz,
    wrapup_ended_at  timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT calls_one_per_call UNIQUE (inbox, call_id)
);
CREATE INDEX calls_conversation ON calls (conversation_id);
CREATE INDEX calls_contact ON calls (contact_id, started_at DESC);
CREATE INDEX calls_agent_wrapup ON calls (agent_id) WHERE wrapup_started_at IS NOT NULL
    AND wrapup_ended_at IS NULL;

-- Every call event applied, once: (callId, event) for CTI, (CallSid, SequenceNumber /
-- status) for Twilio. A redelivered event finds its key and changes nothing.
CREATE TABLE call_events (
    inbox       text NOT NULL,
    call_id     text NOT NULL,
    event_key   text NOT NULL,
    signal      text NOT NULL,
    effects     text[] NOT NULL DEFAULT '{}',
    received_at timestamptz NOT NULL,
    PRIMARY KEY (inbox, call_id, event_key)
);

-- A customer to call back: from the widget, or a missed call. The work item (channel
-- 'voice') is what the router offers; accepting it makes the hub originate.
CREATE TABLE callbacks (
    id               bigserial PRIMARY KEY,
    source_key       text NOT NULL UNIQUE,  -- 'widget:<request id>' / 'missed:<inbox>:<callId>'
    source           text NOT NULL CHECK (source IN ('widget', 'missed_call', 'agent')),
    inbox            text NOT NULL REFERENCES inboxes(slug),
    conversation_id  bigint NOT NULL REFERENCES conversations(id),
    work_item_id     bigint REFERENCES work_items(id),
    contact_id       bigint NOT NULL REFERENCES contacts(id),
    phone            text NOT NULL,
    topic            text NOT NULL DEFAULT '',
    language         text NOT NULL DEFAULT '',
    status           text NOT NULL DEFAULT 'requested' CHECK (status IN
                     ('requested', 'offered', 'dialing', 'connected', 'completed', 'failed',
                      'cancelled')),
    reason           text NOT NULL DEFAULT '',
    attempts         integer NOT NULL DEFAULT 0,
    agent_id         bigint REFERENCES agents(id),
    provider_call_id text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX callbacks_conversation ON callbacks (conversation_id);

-- Call scripts: validated graphs (docs/voice.md), chosen by queue or topic.
CREATE TABLE call_scripts (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    queue       text NOT NULL DEFAULT '',
    topic       text NOT NULL DEFAULT '',
    graph       jsonb NOT NULL,
    source      text NOT NULL DEFAULT '',
    active      boolean NOT NULL DEFAULT true,
    created_by  bigint REFERENCES agents(id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT call_scripts_name UNIQUE (name)
);

-- An agent walking a script on a conversation: path taken and answers given.
CREATE TABLE script_runs (
    conversation_id bigint NOT NULL REFERENCES conversations(id),
    script_id       bigint NOT NULL REFERENCES call_scripts(id) ON DELETE CASCADE,
    agent_id        bigint REFERENCES agents(id),
    state           jsonb NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, script_id)
);

CREATE TABLE dispositions (
    code      text PRIMARY KEY CHECK (code ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    label     text NOT NULL,
    position  integer NOT NULL DEFAULT 0,
    active    boolean NOT NULL DEFAULT true
);
