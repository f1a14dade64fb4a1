-- Outbound email: the mailbox each email inbox sends from, and the Message-ID an
-- acknowledgement carries (chosen once, reused by every retry of that ack).

-- From: of agent replies and acknowledgements sent by this inbox; NULL = not configured
-- (sending fails visibly with that reason instead of guessing an address).
ALTER TABLE inboxes ADD COLUMN email_address text
    CHECK (email_address IS NULL OR email_address ~ '^[^@\s<>]+@[^@\s<>]+$');
ALTER TABLE inboxes ADD COLUMN email_display_name text NOT NULL DEFAULT '';

ALTER TABLE email_acks ADD COLUMN message_id text NOT NULL DEFAULT '';

-- The send worker looks its Message-ID up by message row (reused on retries).
CREATE INDEX email_message_ids_message_row ON email_message_ids (message_row)
    WHERE message_row IS NOT NULL;

