"""``kafkalog consume``: read log records from a topic (argument parsing only; the work is kafkalog.consume)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from ._flags import add_connection, add_security, security_options, spelled

HELP = "read log records from a topic (pretty, ndjson or raw)"

def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "consume", help=HELP, description="Read log records from a topic and write them to stdout. Without "
        "--follow it stops at the end of the topic (each partition's end as of the start).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  kafkalog consume --bootstrap-servers kafka:9092 --topic app-logs --level warning\n"
               "  kafkalog consume --bootstrap-servers kafka:9092 --topic app-logs --from 10m --follow\n"
               "  kafkalog consume --bootstrap-servers kafka:9092 --topic app-logs -o ndjson | jq .msg")
    add_connection(p, transport_help=(
        "the Kafka client. auto (default): confluent if installed (pip install 'kafkalog[confluent]'; it reads "
        "several times faster), else kafka-python; with --consumer-config or -X, kafka-python unless named"))
    p.add_argument("--from", dest="start", default="beginning", metavar="WHERE",
                   help="beginning (default), end, OFFSET (in every partition), -N (N before the end), an ISO "
                        "time (UTC unless it has an offset: 2026-12-02T15:00), or a duration ago: 30s, 10m, 2h, 1d")
    p.add_argument("--follow", "-f", action="store_true", help="keep reading new records until interrupted")
    p.add_argument("--group", "-g", metavar="ID",
                   help="resume from this group's committed offsets and commit what was written out")
    filters = p.add_argument_group("filters (all must hold)")
    filters.add_argument("--level", "-l", metavar="LEVEL", help="this level and above (a name or number)")
    filters.add_argument("--logger", action="append", default=[], metavar="PREFIX",
                         help="the logger or its children (repeatable: any of them)")
    filters.add_argument("--grep", metavar="REGEX", help="search the message and the exception")
    filters.add_argument("--ignore-case", "-i", action="store_true", help="--grep ignores case")
    filters.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                         help="a key (dotted; fields too: user=alice) equals VALUE (repeatable: all of them)")
    out = p.add_argument_group("output")
    out.add_argument("--output", "-o", choices=("pretty", "ndjson", "raw"), default="pretty")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                     help="pretty output colours (auto: on a terminal, unless NO_COLOR is set)")
    out.add_argument("--meta", action="store_true", help="add partition, offset, timestamp and key")
    out.add_argument("--max-records", "-n", type=int, metavar="N", help="stop after writing N records")
    out.add_argument("--dedup", action="store_true",
                     help="leave out a record whose id was among the last --dedup-window ids read (kafkalog "
                          "delivers at least once: a retry, a spool replay or a restarted tail can repeat one)")
    out.add_argument("--dedup-window", type=int, metavar="N",
                     help="ids --dedup remembers (default 1,000,000: about 120 MB); a repeat coming later than "
                          "that is written again")
    conn = p.add_argument_group("connection")
    conn.add_argument("--consumer-config", type=Path, metavar="FILE",
                      help="a JSON object of consumer options in the client's own names")
    conn.add_argument("-X", dest="options", action="append", default=[], metavar="KEY=VALUE",
                      help="one consumer option (repeatable; not for secrets: use the file or the environment)")
    conn.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                      help="for finding the topic, offsets and commits, and without --follow for records before the "
                           "end (default 30)")
    add_security(p)
    p.set_defaults(command="consume")


def chosen_client(args: argparse.Namespace) -> str:
    """``--transport``, with ``auto`` resolved (see :func:`kafkalog.consume.clients.resolve_client`)."""
    from kafkalog.consume.clients import resolve_client

    return resolve_client(args.transport, client_options=args.consumer_config is not None or bool(args.options))


def client_config(args: argparse.Namespace, environ: Mapping[str, str], client: str | None = None) -> dict[str, Any]:
    """The consumer options: the file, then -X, then the security flags (passwords from the environment), in
    the names of ``client`` (by default the one the arguments choose)."""
    from kafkalog.consume.security import consumer_config

    return consumer_config(client or chosen_client(args), config_file=args.consumer_config, items=args.options,
                           security=security_options(args, environ))


def _quiet_closed_stdout() -> None:
    """stdout's reader is gone (``| head``): point stdout at /dev/null so the exit flush cannot complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _fewer_collections() -> None:
    """A bulk read allocates a few objects per record, nearly all freed at once by reference counting; the
    cyclic collector would still run every 700 of them and walk the objects the imports left (5-8% of a read's
    time). This process is the command's own: collect less often, and never walk what exists at the start."""
    import gc

    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def run(args: argparse.Namespace) -> int:
    import logging

    from kafkalog.consume import ConsumeError, ConsumeOptions, Filters, Session, Unreachable, parse_start
    from kafkalog.consume.dedup import DEFAULT_WINDOW
    from kafkalog.consume.pretty import use_color
    from kafkalog.errors import ConfigError

    # the client's own log lines are not for the reader of this command's output (errors end the run instead)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        client = chosen_client(args)
        options = ConsumeOptions(
            bootstrap_servers=args.bootstrap_servers, topic=args.topic, start=parse_start(args.start),
            follow=args.follow, group=args.group,
            filters=Filters.build(level=args.level, loggers=args.logger, grep=args.grep,
                                  ignore_case=args.ignore_case, where=args.where),
            output=args.output, color=use_color(args.color, sys.stdout), meta=args.meta,
            max_records=args.max_records, client=client,
            client_config=client_config(args, dict(os.environ), client), timeout=args.timeout,
            dedup=(DEFAULT_WINDOW if args.dedup_window is None else args.dedup_window) if args.dedup else None)
    except (ConfigError, ConsumeError) as exc:
        print(f"kafkalog consume: {spelled(str(exc))}", file=sys.stderr)
        return 2

    session = Session(options, sys.stdout.buffer)
    _fewer_collections()
    previous: dict[int, Any] = {}
    signalled: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if signalled:
            os._exit(128 + signum)  # a second signal: at once, nothing more written or committed
        signalled.append(signum)
        session.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, on_signal)
    try:
        result = session.run()
    except Unreachable as exc:  # kafkalog check's message and exit code
        print(f"kafkalog consume: {exc}", file=sys.stderr, flush=True)
        if exc.abandoned:
            os._exit(exc.exit_code)  # a step left running (a broker that never answers) must not hold up the exit
        return exc.exit_code
    except ConsumeError as exc:
        print(f"kafkalog consume: {exc}", file=sys.stderr)
        return 1
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if result.reason == "closed_pipe":
        _quiet_closed_stdout()
    elif result.repeats:
        print(f"kafkalog consume: {result.repeats} repeated records left out (--dedup)", file=sys.stderr)
    return 0
