-- Files an agent uploads for a reply (email attachments, files on private notes). The
-- bytes are a content-addressed blob (the mail blob store); a row is claimed by at most
-- one message, in that message's transaction.
CREATE TABLE uploads (
    id              uuid PRIMARY KEY,
    agent_id        bigint NOT NULL REFERENCES agents(id),
    conversation_id bigint NOT NULL REFERENCES conversations(id),
    ref             text NOT NULL,
    filename        text NOT NULL,
    content_type    text NOT NULL,
    size            bigint NOT NULL CHECK (size >= 0),
    message_id      bigint REFERENCES messages(id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_unclaimed ON uploads (conversation_id, agent_id) WHERE message_id IS NULL;
