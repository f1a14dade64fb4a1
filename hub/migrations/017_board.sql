-- Wallboard "today" counters (hub/reports/store.py): finished work items by end time,
-- and open work items by channel for the mailbox backlog. Partial, so the live routing
-- indexes are not widened.
CREATE INDEX work_items_ended ON work_items (updated_at) WHERE status IN ('completed', 'cancelled');
CREATE INDEX work_items_open_channel ON work_items (channel, created_at)
    WHERE status IN ('queued', 'offered', 'assigned');
-- Items held now, per agent: the busy part of occupancy today.
CREATE INDEX work_items_held ON work_items (agent_id) WHERE status IN ('assigned', 'wrapup');

-- Derived presence changes as the router announced them (agent.presence), written with
-- the journal entry: the board's time in state and occupancy today. No foreign key: the
-- router's journal may carry agents that are not rows (tests, benchmarks); the insert
-- skips them.
CREATE TABLE agent_presence_log (
    agent_id  bigint NOT NULL,
    presence  text NOT NULL CHECK (presence IN ('online', 'away', 'busy', 'offline')),
    at        timestamptz NOT NULL
);
CREATE INDEX agent_presence_log_agent_at ON agent_presence_log (agent_id, at DESC);
CREATE INDEX agent_presence_log_at ON agent_presence_log (at);
