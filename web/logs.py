"""Logging for the ``omnihub`` commands: level from ``OMNIHUB_LOG_LEVEL`` (default
INFO), one line format, and arq's per-run lines of cron jobs kept out of the terminal.

arq logs two INFO lines per job run (``→ cron:sweep_stuck_bots:…()`` and ``← … ●``);
the worker's sweeps run every few seconds, which filled ``make dev``'s terminal with
about one line a second. Those lines of cron jobs are dropped unless
``OMNIHUB_LOG_LEVEL=debug``; their warnings and errors, and every line of ordinary
jobs (deliveries, originates), stay.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

# arq's job lines: "  0.01s → cron:name:ts()", "← cron:… ●", "⊘ … aborted", "↻ … retrying".
_CRON_RUN = re.compile(r"[→←⊘↻] cron:")


class QuietCronRuns(logging.Filter):
    """Drop arq's below-WARNING per-run lines of cron jobs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return not _CRON_RUN.search(record.getMessage())


def log_level(env: Mapping[str, str]) -> int:
    name = (env.get("OMNIHUB_LOG_LEVEL") or "INFO").strip().upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


def configure_logging(command: str, env: Mapping[str, str]) -> None:
    level = log_level(env)
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s {command:<8} %(levelname)-7s %(name)s: %(message)s",
    )
    arq_log = logging.getLogger("arq.worker")
    for f in [f for f in arq_log.filters if isinstance(f, QuietCronRuns)]:
        arq_log.removeFilter(f)
    if level > logging.DEBUG:
        arq_log.addFilter(QuietCronRuns())
