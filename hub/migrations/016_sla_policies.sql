-- SLA policies (docs/sla.md "Policies (stored)"), shaped like routing_configs: every
-- save stores the whole policy document as a new version; the highest version is the
-- one that applies. Who changed which policy, and how, is an audit_log row
-- (action 'sla.policy.add' | 'sla.policy.update' | 'sla.policy.delete',
-- subject 'sla_policy:<id>', details: version, before, after).
CREATE TABLE sla_policy_versions (
    version       integer PRIMARY KEY CHECK (version >= 1),
    document      jsonb NOT NULL,               -- {"version": n, "policies": [...]}, validated
    content_hash  text NOT NULL,
    created_by    bigint REFERENCES agents(id),
    source        text NOT NULL DEFAULT 'api',  -- api | routing (the routing YAML's sla: section)
    created_at    timestamptz NOT NULL DEFAULT now()
);
