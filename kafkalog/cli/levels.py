"""``kafkalog levels set|get|reset``: publish logger levels to the compacted topic that processes started with
``levels_from="kafka://TOPIC/KEY"`` follow (docs/safety.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("levels", help="set, show or reset logger levels followed from a compacted topic",
                              description=__doc__)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (("set", "set levels (replaces what was set before)"), ("get", "show the current value"),
                       ("reset", "clear every level set (processes go back to their own levels)")):
        sub = actions.add_parser(name, help=text, description=text)
        if name == "set":
            sub.add_argument("assignments", nargs="+", metavar="LOGGER=LEVEL", help="e.g. billing.api=DEBUG")
            sub.add_argument("--for", dest="duration", metavar="DURATION",
                             help="end the change after this long (30s, 15m, 2h, 1d); default: until reset")
        sub.add_argument("-b", "--bootstrap-servers", required=True, metavar="HOST:PORT[,HOST:PORT]")
        sub.add_argument("-t", "--topic", required=True, help="the compacted topic")
        sub.add_argument("--key", required=True, help="the key the processes follow")


def run(args: argparse.Namespace) -> int:
    from .._levels_topic import describe, parse_assignments, parse_duration, publish, read_current, set_value

    try:
        if args.action == "set":
            levels = parse_assignments(args.assignments)
            duration = parse_duration(args.duration) if args.duration else None
            value = set_value(levels, duration)  # once: the "until" printed is the one stored
            publish(args.bootstrap_servers, args.topic, args.key, value)
            print(describe(value))
        elif args.action == "reset":
            publish(args.bootstrap_servers, args.topic, args.key, set_value({}, None))
            print("(no levels set)")
        else:
            print(describe(read_current(args.bootstrap_servers, args.topic, args.key)))
    except ValueError as exc:
        print(f"kafkalog levels {args.action}: {exc}", file=sys.stderr)
        return 2
    except LookupError as exc:  # as kafkalog check says it
        print(f"kafkalog levels {args.action}: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 6
    except Exception as exc:
        print(f"kafkalog levels {args.action}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 4
    return 0
