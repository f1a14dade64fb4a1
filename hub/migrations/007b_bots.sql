-- Bots (docs/bots.md): accounts with a token (only its SHA-256 stored), a bot per queue
-- that holds new work items before humans, bot-authored messages.
CREATE TABLE bots (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash  text NOT NULL UNIQUE,
    active      boolean NOT NULL DEFAULT true,
    created_by  bigint REFERENCES agents(id),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A queue with a bot sends its new work items to status 'bot', held by that bot.
ALTER TABLE queues ADD COLUMN bot_id bigint REFERENCES bots(id);
-- The bot holding (status 'bot') or last holding the item.
ALTER TABLE work_items ADD COLUMN bot_id bigint REFERENCES bots(id);
CREATE INDEX work_items_bot ON work_items (bot_id) WHERE status = 'bot';
ALTER TABLE messages ADD COLUMN bot_id bigint REFERENCES bots(id);
