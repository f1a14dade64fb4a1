-- Routing: what the router needs on work items, offers, config versions.
-- Redis ({rt} keys) is the live routing state; these columns are its persisted image,
-- written from the routing journal (hub/routing/persist.py) in one transaction with the
-- events, and read back to rebuild Redis (hub/routing/reconcile.py).

ALTER TABLE work_items
    ADD COLUMN attributes     jsonb NOT NULL DEFAULT '{}',  -- routing attributes (topic, ivr, skills...)
    ADD COLUMN enqueued_at    timestamptz,                   -- escalation clock (restarts on transfer)
    ADD COLUMN step           integer NOT NULL DEFAULT 0,    -- escalation step last applied
    ADD COLUMN last_agent_id  bigint REFERENCES agents(id),  -- sticky routing hint
    ADD COLUMN weight         integer,                       -- capacity units, fixed when queued
    ADD COLUMN offered_to     bigint[] NOT NULL DEFAULT '{}',-- agents with a pending offer
    ADD COLUMN offer_expires_at timestamptz,
    ADD COLUMN wrapup_until   timestamptz,
    ADD COLUMN assigned_at    timestamptz,
    ADD COLUMN routed_at      timestamptz;                   -- first enqueued into the router
CREATE INDEX work_items_waiting ON work_items (id) WHERE status IN ('queued', 'offered');

-- Every offer, for the audit trail and supervisor reports.
CREATE TABLE work_item_offers (
    work_item_id  bigint NOT NULL REFERENCES work_items(id),
    agent_id      bigint NOT NULL REFERENCES agents(id),
    seq           integer NOT NULL,        -- nth offer of this item to this agent
    queue         text NOT NULL,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'accepted', 'declined', 'timed_out', 'rescinded')),
    offered_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    PRIMARY KEY (work_item_id, agent_id, seq)
);
CREATE INDEX work_item_offers_agent ON work_item_offers (agent_id, offered_at DESC);

-- Routing config versions (YAML as sent); the highest version is the running one.
CREATE TABLE routing_configs (
    version       integer PRIMARY KEY CHECK (version >= 1),
    yaml          text NOT NULL,
    content_hash  text NOT NULL,
    created_by    bigint REFERENCES agents(id),
    source        text NOT NULL DEFAULT 'api',  -- api | file | seed
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The routing journal position persisted so far (one row): recovery resumes after it.
CREATE TABLE routing_journal_mark (
    id        boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_id   text NOT NULL DEFAULT '0-0'
);
INSERT INTO routing_journal_mark DEFAULT VALUES;
