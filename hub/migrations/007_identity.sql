-- Identity linking across channels (docs/identity.md).

-- Unverified claims (a pre-chat email, a number typed into a form): kept for agents and
-- merge suggestions, never used to link. Several contacts may claim the same value.
CREATE TABLE identity_claims (
    contact_id  bigint NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    kind        text NOT NULL,
    value       text NOT NULL,
    source      text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (contact_id, kind, value)
);
CREATE INDEX identity_claims_value ON identity_claims (kind, value);

-- Rule 3 (crm): operator-maintained columns looked up by value.
CREATE INDEX contacts_email_lookup ON contacts (email) WHERE email IS NOT NULL;
CREATE INDEX contacts_phone_lookup ON contacts (phone) WHERE phone IS NOT NULL;

-- A merged contact stays as a tombstone pointing at its survivor, so old links resolve.
ALTER TABLE contacts ADD COLUMN merged_into bigint REFERENCES contacts(id);

-- Per queue: does a message from another channel join the contact's open conversation
-- ('join') or open one per channel ('separate', the default)?
ALTER TABLE queues ADD COLUMN cross_channel text NOT NULL DEFAULT 'separate'
    CHECK (cross_channel IN ('separate', 'join'));
