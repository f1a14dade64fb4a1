-- Bots (docs/bots.md): webhook push with a signing secret, disable/enable, token rotation
-- with an optional grace period, the stuck-bot timeout, and the webhook delivery log.
ALTER TABLE bots
    ADD COLUMN webhook_url text CHECK (webhook_url ~ '^https?://' AND length(webhook_url) <= 2000),
    -- The HMAC key for X-Omnihub-Signature. Stored as is: the hub must sign with it.
    ADD COLUMN webhook_secret text,
    -- During a secret rotation's grace period POSTs carry a v1 signature for each.
    ADD COLUMN prev_webhook_secret text,
    ADD COLUMN prev_webhook_secret_until timestamptz,
    -- A rotated token keeps working until prev_token_until (0 s grace: never).
    ADD COLUMN prev_token_hash text UNIQUE,
    ADD COLUMN prev_token_until timestamptz,
    -- A held item with no bot reply/hand-off this long after the customer wrote is
    -- handed to humans ("bot did not respond"); 0 = never.
    ADD COLUMN handoff_after_s integer NOT NULL DEFAULT 120
        CHECK (handoff_after_s BETWEEN 0 AND 86400),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- One row per (bot, event): what was POSTed to the bot's webhook and how it went.
CREATE TABLE bot_deliveries (
    id              bigserial PRIMARY KEY,
    delivery_id     uuid NOT NULL UNIQUE,
    bot_id          bigint NOT NULL REFERENCES bots(id),
    conversation_id bigint NOT NULL,
    stream_id       text NOT NULL,
    -- The stream id as one sortable number (ms << 20 | seq): per (bot, conversation)
    -- deliveries go out in this order, whichever worker recorded them first.
    stream_pos      bigint NOT NULL,
    event_type      text NOT NULL,
    -- After this event the bot holds the conversation (false: it left the bot).
    held            boolean NOT NULL,
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    http_status     integer,
    last_error      text NOT NULL DEFAULT '',
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (bot_id, stream_id)
);
CREATE INDEX bot_deliveries_open ON bot_deliveries (bot_id, conversation_id, stream_pos)
    WHERE status IN ('pending', 'sending');
CREATE INDEX bot_deliveries_log ON bot_deliveries (bot_id, id DESC);
CREATE INDEX bot_deliveries_conv ON bot_deliveries (conversation_id, bot_id, id DESC);
