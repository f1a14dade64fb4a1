-- Wallboard "today" counters (hub/reports/store.py): finished work items by end time,
-- and open work items by channel for the mailbox backlog. Partial, so the live routing
-- indexes are not widened.
CREATE INDEX work_items_ended ON work_items (updated_at) WHERE status IN ('completed', 'cancelled');
CREATE INDEX work_items_open_channel ON work_items (channel, created_at)
    WHERE status IN ('queued', 'offered', 'assigned');
