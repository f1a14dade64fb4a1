"""omnihub domain core: schema, identity, threading, routing decisions, actions, and the
stream and store gateways."""
