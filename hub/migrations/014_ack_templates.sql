-- Per-inbox automatic acknowledgements: on/off, and the inbox's own templates per
-- language (none: the built-in ones in channels/email/templates.py).
ALTER TABLE inboxes ADD COLUMN email_ack_enabled boolean NOT NULL DEFAULT true;
CREATE TABLE email_ack_templates (
    inbox      text NOT NULL REFERENCES inboxes(slug) ON DELETE CASCADE,
    language   text NOT NULL,
    body       text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (inbox, language)
);
