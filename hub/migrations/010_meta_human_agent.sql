-- Messenger / Instagram: may a human agent reply between 24 hours and 7 days after the
-- customer's last message, with Meta's HUMAN_AGENT message tag (hub/meta_window.py)?
-- NULL = the channel's default: on for Messenger, off for Instagram (the app needs Meta's
-- Human Agent feature approved there; docs/channels.md "Meta messaging window").
ALTER TABLE channel_accounts ADD COLUMN human_agent boolean;
