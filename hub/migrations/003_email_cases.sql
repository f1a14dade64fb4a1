-- Email cases: one contact may have many open email conversations in one inbox (one per
-- thread), while chat keeps exactly one live conversation per contact and inbox.

-- The provider id (Message-ID) of the mail that opened an email case: its find-or-create
-- key. NULL for every other channel.
ALTER TABLE conversations ADD COLUMN thread_key text;
-- The normalised subject (Re:/AW:/[Ticket#..] stripped, case-folded) for the
-- same-sender subject fallback; '' when not applicable.
ALTER TABLE conversations ADD COLUMN subject_key text NOT NULL DEFAULT '';

DROP INDEX conversations_one_open;
CREATE UNIQUE INDEX conversations_one_open ON conversations (contact_id, inbox)
    WHERE status <> 'resolved' AND thread_key IS NULL;
CREATE UNIQUE INDEX conversations_thread_key ON conversations (inbox, thread_key)
    WHERE thread_key IS NOT NULL;
CREATE INDEX conversations_subject_key ON conversations (contact_id, inbox, subject_key)
    WHERE subject_key <> '';

-- Channel facts of a message the agent needs (email: the quoted rest, malformed flag,
-- cc, remote image count ...) and the stored raw message (blob ref).
ALTER TABLE messages ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}';
ALTER TABLE messages ADD COLUMN raw_ref text NOT NULL DEFAULT '';

-- Bounce and forged-thread audit rows are looked up by subject (one row per event).
CREATE INDEX audit_log_action_subject ON audit_log (action, subject);
