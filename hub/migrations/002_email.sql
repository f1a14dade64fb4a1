-- Email threading and acknowledgements (shared by the inbound pipeline and the send worker).

-- Every RFC 5322 Message-ID we have seen or sent, per inbox: the References/In-Reply-To
-- matcher looks conversations up here. Outbound rows are written in the same transaction
-- as the agent reply / acknowledgement that carries the Message-ID.
CREATE TABLE email_message_ids (
    inbox            text NOT NULL REFERENCES inboxes(slug),
    message_id       text NOT NULL,  -- with angle brackets, as in the header
    conversation_id  bigint NOT NULL REFERENCES conversations(id),
    message_row      bigint REFERENCES messages(id),
    direction        text NOT NULL CHECK (direction IN ('in', 'out')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (inbox, message_id)
);
CREATE INDEX email_message_ids_conversation ON email_message_ids (conversation_id);

-- One acknowledgement per new email case. The pipeline inserts 'pending' in the case's
-- transaction; the worker claims it (pending -> sending) and ends it sent / suppressed /
-- failed, so a crash between commit and enqueue is swept up, and nothing is sent twice.
CREATE TABLE email_acks (
    conversation_id  bigint PRIMARY KEY REFERENCES conversations(id),
    inbox            text NOT NULL REFERENCES inboxes(slug),
    to_address       text NOT NULL,
    locale           text NOT NULL DEFAULT 'en',
    parent_message_id text NOT NULL DEFAULT '',
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'suppressed', 'failed')),
    reason           text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    status_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_acks_pending ON email_acks (status, created_at) WHERE status IN ('pending', 'sending');
