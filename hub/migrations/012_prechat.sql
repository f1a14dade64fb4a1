-- Web widget pre-chat form (docs/frontend.md "Pre-chat form", docs/identity.md).

-- One form per chat inbox; the JSON is what hub/prechat.parse_config returned (already
-- normalised), so readers never re-validate. version counts admin writes.
CREATE TABLE prechat_forms (
    inbox       text PRIMARY KEY REFERENCES inboxes(slug) ON DELETE CASCADE,
    config      jsonb NOT NULL,
    version     integer NOT NULL DEFAULT 1,
    updated_by  bigint REFERENCES agents(id),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per accepted submission, written in the pipeline transaction that stores the
-- visitor's first message (so exactly once). email/phone are unverified claims (also in
-- identity_claims with source 'prechat'); custom holds the custom fields (conversation
-- attributes; routing sees them as attrs.<key> through the first message's attributes).
CREATE TABLE prechat_submissions (
    id               bigserial PRIMARY KEY,
    inbox            text NOT NULL REFERENCES inboxes(slug),
    contact_id       bigint NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    conversation_id  bigint NOT NULL REFERENCES conversations(id),
    message_id       bigint NOT NULL UNIQUE REFERENCES messages(id),
    name             text NOT NULL DEFAULT '',
    email            text NOT NULL DEFAULT '',
    phone            text NOT NULL DEFAULT '',
    custom           jsonb NOT NULL DEFAULT '{}',
    consent_given    boolean,
    consent_text     text,
    consent_version  text,
    consented_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX prechat_submissions_contact ON prechat_submissions (contact_id, id DESC);
CREATE INDEX prechat_submissions_conversation ON prechat_submissions (conversation_id);
