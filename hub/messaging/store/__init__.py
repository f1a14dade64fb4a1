"""The messaging subsystem's SQL: ``uploads`` (agents' files, claimed by a reply),
``delivery`` (provider status reports and message status), ``reply_windows`` (the reads
behind the channels' reply windows, and template sends)."""
