-- One-time-code verification of a claimed email/phone (docs/identity.md "Verifying a
-- claim"). The code itself is never stored: it is derived from the hub's secret key and
-- code_salt (hub/verification.py), so a database dump alone reveals nothing.
CREATE TABLE identity_verifications (
    id                bigserial PRIMARY KEY,
    contact_id        bigint NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    kind              text NOT NULL CHECK (kind IN ('email', 'phone')),
    value             text NOT NULL,
    -- The chat conversation (and the visitor identity in it) that must enter the code.
    conversation_id   bigint NOT NULL REFERENCES conversations(id),
    inbox             text NOT NULL,
    claimant          text NOT NULL,
    via               text NOT NULL CHECK (via IN ('email', 'sms')),
    code_salt         text NOT NULL,
    attempts          integer NOT NULL DEFAULT 0,
    status            text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'verified', 'locked', 'expired', 'superseded')),
    delivery          text NOT NULL DEFAULT 'queued'
        CHECK (delivery IN ('queued', 'sending', 'sent', 'failed')),
    delivery_error    text NOT NULL DEFAULT '',
    linked_contact_id bigint REFERENCES contacts(id),
    created_by        bigint NOT NULL REFERENCES agents(id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    finished_at       timestamptz
);
CREATE INDEX identity_verifications_target ON identity_verifications (kind, value, created_at);
CREATE INDEX identity_verifications_agent ON identity_verifications (created_by, created_at);
CREATE INDEX identity_verifications_conversation ON identity_verifications (conversation_id, id);
CREATE INDEX identity_verifications_contact ON identity_verifications (contact_id, id);
