"""``omnihub deadletters``: inspect, replay and drop the pipeline's dead letters
(hub/conversations/dead_letters.py; docs/pipeline.md). Needs only REDIS_URL (and the key prefix).

  omnihub deadletters stats              waiting now, and dead-lettered ever
  omnihub deadletters list [--count N] [--after ID]    one JSON line per dead letter
  omnihub deadletters show ID            the reason and the whole envelope
  omnihub deadletters replay ID... | --all
  omnihub deadletters drop ID...         delete for good (junk, never a message)
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

import redis.asyncio as aioredis

from hub.config import Settings
from hub.conversations.dead_letters import (
    dead_letter_stats,
    drop_dead_letter,
    get_dead_letter,
    list_dead_letters,
    replay_all_dead_letters,
    replay_dead_letter,
)
from hub.errors import HubError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("deadletters", help="inspect, replay or drop the ingest dead letters")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("stats", help="dead letters waiting now, and dead-lettered ever")
    ls = actions.add_parser("list", help="one JSON line per dead letter, oldest first")
    ls.add_argument("--count", type=int, default=100)
    ls.add_argument("--after", default="-", help="page: the last id of the previous page")
    show = actions.add_parser("show", help="the reason and the whole envelope")
    show.add_argument("id")
    replay = actions.add_parser("replay", help="put back on the ingest stream, then delete")
    replay.add_argument("ids", nargs="*", metavar="ID")
    replay.add_argument("--all", action="store_true", help="every dead letter present now")
    drop = actions.add_parser("drop", help="delete for good")
    drop.add_argument("ids", nargs="+", metavar="ID")


def _print(out: TextIO, obj: Any) -> None:
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")


async def run_deadletters(settings: Settings, args: argparse.Namespace, out: TextIO,
                          err: TextIO) -> int:
    """Exit status: 0 done, 1 some id was refused (unknown, or still no valid envelope)."""
    redis = aioredis.from_url(settings.redis_url, decode_responses=False)  # type: ignore[no-untyped-call]
    try:
        return await _run(redis, settings, args, out, err)
    finally:
        await redis.aclose()


async def _run(redis: aioredis.Redis, settings: Settings, args: argparse.Namespace,
               out: TextIO, err: TextIO) -> int:
    failed = 0
    if args.action == "stats":
        _print(out, await dead_letter_stats(redis, settings))
    elif args.action == "list":
        for dead in await list_dead_letters(redis, settings, count=args.count,
                                            after=args.after):
            _print(out, dead.summary())
    elif args.action == "show":
        try:
            dead = await get_dead_letter(redis, settings, args.id)
        except HubError as exc:
            err.write(f"{exc.reason}\n")
            return 1
        try:
            env: Any = json.loads(dead.env)
        except ValueError:
            env = dead.env.decode("utf-8", "replace")
        _print(out, {"id": dead.id, "entry": dead.entry, "reason": dead.reason, "env": env})
    elif args.action == "replay":
        if args.all == bool(args.ids):
            err.write("replay: give dead-letter ids or --all\n")
            return 2
        if args.all:
            replayed, refused = await replay_all_dead_letters(redis, settings)
        else:
            replayed, refused = [], []
            for dead_id in args.ids:
                try:
                    replayed.append((dead_id, await replay_dead_letter(redis, settings, dead_id)))
                except HubError as exc:
                    refused.append((dead_id, exc.reason))
        for dead_id, entry in replayed:
            _print(out, {"replayed": dead_id, "entry": entry})
        for dead_id, reason in refused:
            _print(err, {"refused": dead_id, "reason": reason})
        failed = len(refused)
    elif args.action == "drop":
        for dead_id in args.ids:
            try:
                await drop_dead_letter(redis, settings, dead_id)
                _print(out, {"dropped": dead_id})
            except HubError as exc:
                _print(err, {"refused": dead_id, "reason": exc.reason})
                failed += 1
    return 1 if failed else 0
