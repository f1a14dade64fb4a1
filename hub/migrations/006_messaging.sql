-- Messaging channels (Twilio SMS/MMS/WhatsApp, Meta Messenger/Instagram/WhatsApp Cloud,
-- Telegram): per-inbox provider accounts, the provider's ids of our outbound messages,
-- every delivery-status report received, and template sends.

-- One provider account per messaging inbox. Secrets live here, never in code.
-- external_id is what a webhook names to find its inbox:
--   twilio: the number Twilio sends To, as Twilio writes it (+E164, or whatsapp:+E164)
--   meta:   entry[].id - the Page id (messenger), the Instagram professional account id
--           (instagram), or metadata.phone_number_id (whatsapp cloud)
--   telegram: the bot's numeric id (the first part of its token); the inbox is in the URL
CREATE TABLE channel_accounts (
    inbox         text PRIMARY KEY REFERENCES inboxes(slug) ON DELETE CASCADE,
    provider      text NOT NULL CHECK (provider IN ('twilio', 'meta', 'telegram')),
    external_id   text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 200),
    account_sid   text NOT NULL DEFAULT '',   -- twilio: AC...
    auth_token    text NOT NULL DEFAULT '',   -- twilio auth token (signs webhooks, Basic auth)
    access_token  text NOT NULL DEFAULT '',   -- meta page/system-user token; telegram bot token
    app_secret    text NOT NULL DEFAULT '',   -- meta: signs X-Hub-Signature-256
    verify_token  text NOT NULL DEFAULT '',   -- meta: hub.verify_token of the handshake
    secret_token  text NOT NULL DEFAULT '',   -- telegram: X-Telegram-Bot-Api-Secret-Token
    -- WhatsApp: approved templates [{name, language, body}] offered outside the 24 h window.
    templates     jsonb NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, external_id)
);

-- The provider's id for a message we sent (Twilio SM..., wamid..., Messenger mid, Telegram
-- chat:message_id): status callbacks name it.
CREATE TABLE outbound_provider_ids (
    provider     text NOT NULL,
    provider_ref text NOT NULL,
    message_id   bigint NOT NULL UNIQUE REFERENCES messages(id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, provider_ref)
);

-- Every delivery report once (idempotency key: provider, provider ref, status). Reports
-- that arrive before the send job recorded the provider ref wait here and are applied
-- when it is recorded.
CREATE TABLE message_status_reports (
    provider     text NOT NULL,
    provider_ref text NOT NULL,
    status       text NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'delivered',
                                                 'read', 'failed')),
    error        text NOT NULL DEFAULT '',
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, provider_ref, status)
);

-- An agent's WhatsApp template send: the worker sends the template, not free text.
CREATE TABLE outbound_templates (
    message_id  bigint PRIMARY KEY REFERENCES messages(id),
    name        text NOT NULL,
    language    text NOT NULL,
    params      jsonb NOT NULL DEFAULT '[]'
);
