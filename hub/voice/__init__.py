"""Voice: calls, callbacks, screen pops, scripts.

- rules/: ``callstate`` (the call state machine), ``callbacks`` (callback requests),
  ``pbx`` (what the hub answers a PBX's newCall), ``scripts`` (call scripts). Pure.
- store/: ``calls`` (voice envelopes in the pipeline transaction, the ingest step of
  the voice channel), ``context`` (reads for screen pops and scripts),
  ``call_records`` (call reads, dispositions, wrap-up), ``scripts`` (scripts and their
  runs), ``callbacks`` (claim, dial outcome, status), ``admin`` (telephony settings),
  ``edge`` (CTI endpoints, callback dial targets, the dialling sweep).
- actions/: ``calls`` (wrap-up, scripts), ``callbacks`` (claim, dial outcome).
"""
