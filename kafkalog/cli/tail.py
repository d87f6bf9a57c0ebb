"""``kafkalog tail``: argument parsing and signals over :mod:`kafkalog.tail` (which does the work)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from ._flags import add_connection, add_security, security_options, spelled

DESCRIPTION = """Follow files and ship each line (or multi-line entry) to Kafka as a record, until SIGTERM/SIGINT.
Offsets live in --state-dir and move only past lines the broker acknowledged (or, with --spool, that are in the disk
spool there): a restart, a crash or a broker outage loses no line."""


def _default_state_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "kafkalog", "tail")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("tail", help="follow log files and ship their lines to Kafka",
                              description=DESCRIPTION)
    p.add_argument("paths", nargs="*", metavar="PATH_OR_GLOB", help="files or glob patterns (quote globs)")
    add_connection(p, topic_help="topic for the paths given here and for inputs without one",
                   transport_help="Kafka client to ship with. auto (default): the config's [kafkalog] transport if "
                                  "set, else confluent when installed (pip install 'kafkalog[confluent]'; several "
                                  "times faster), else kafka-python; a config with producer_config (one client's "
                                  "option names) keeps kafka-python under auto")
    p.add_argument("--state-dir", default=_default_state_dir(),
                   help="offsets (and the disk spool with --spool) (default: %(default)s)")
    p.add_argument("--config", metavar="FILE", help="TOML file of [[inputs]]; reloaded on SIGHUP or change")
    p.add_argument("--config-source", metavar="URL",
                   help="inputs from a key holding the config file's TOML, followed for changes: "
                        "kafka://TOPIC/KEY (the latest record with key KEY in a compacted topic of "
                        "--bootstrap-servers) or etcd://HOST:PORT/KEY (needs kafkalog[etcd])")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--multiline-start", metavar="REGEX", help="a line matching this starts a new entry")
    p.add_argument("--multiline-timeout", type=float, default=2.0, metavar="SECONDS",
                   help="ship the last entry after this long without a new line (default: %(default)s)")
    p.add_argument("--start-at", choices=("beginning", "end"), default="beginning",
                   help="where to start in files present at start and never seen before")
    p.add_argument("--static-field", action="append", default=[], metavar="KEY=VALUE",
                   help="add KEY to every record (repeatable)")
    p.add_argument("--close-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="at exit, how long to deliver what was read (the rest is read again, or waits in the spool)")
    p.add_argument("--rotate-wait", type=float, default=5.0, metavar="SECONDS",
                   help="keep reading a renamed or deleted file this long (default: %(default)s)")
    p.add_argument("--partial-timeout", type=float, default=5.0, metavar="SECONDS",
                   help="ship a last line without its newline after this long (default: %(default)s)")
    p.add_argument("--scan-interval", type=float, default=1.0, metavar="SECONDS",
                   help="how often to look for new files (default: %(default)s)")
    p.add_argument("--max-open", type=int, default=256, help="most files held open at once")
    p.add_argument("--spool", action="store_true",
                   help="ship through a disk spool in --state-dir: offsets move once lines are on disk, not acked")
    p.add_argument("--spool-max-bytes", type=int, default=None,
                   help="with --spool: disk spool bound; when full, reading pauses (default: 1 GiB)")
    p.add_argument("--fsync", action="store_true", help="with --spool: fsync each spool write")
    add_security(p)
    p.add_argument("--redact", action="append", default=[], metavar="PRESET", choices=("secrets", "pii"),
                   help="remove secrets or personal data from every record before it is spooled or sent "
                        "(repeatable; see docs/safety.md); the [kafkalog] table's redact= does the same")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError, ConfigTypeError
    from ..tail import StateDirInUse, TailRequest, prepare, run_until_stopped

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    request = TailRequest(
        bootstrap_servers=args.bootstrap_servers, topic=args.topic, state_dir=args.state_dir, paths=args.paths,
        config=args.config, config_source=args.config_source, format=args.format,
        multiline_start=args.multiline_start, multiline_timeout=args.multiline_timeout, start_at=args.start_at,
        static_fields=args.static_field, close_timeout=args.close_timeout, rotate_wait=args.rotate_wait,
        partial_timeout=args.partial_timeout, scan_interval=args.scan_interval, max_open=args.max_open,
        spool=args.spool, spool_max_bytes=args.spool_max_bytes, fsync=args.fsync, transport=args.transport,
        redact=args.redact,
        client_options=security_options(args, os.environ))
    try:
        tail = prepare(request, say)
    except (ConfigError, ConfigTypeError, ValueError, StateDirInUse) as exc:
        say(f"kafkalog tail: {spelled(str(exc))}")
        return 1 if isinstance(exc, StateDirInUse) else 2
    agent = tail.agent
    for warning in tail.warnings:
        say(f"kafkalog tail: warning: {warning}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: agent.request_reload())
    if tail.source is not None:
        tail.source.watch(agent.request_reload)
    say(f"kafkalog tail: following {tail.inputs} input(s), state in {args.state_dir}, shipping with "
        f"{tail.config.transport_spec.name}")
    report = run_until_stopped(agent, stop, tail.config.close_timeout)
    tail.stop_source()
    where = "in the spool" if args.spool else "to read again"
    kept = f", {report.spooled} kept {where} for the next start" if report.spooled else ""
    retried = agent.intake.stats().retried
    again = (f", {retried} sent again after a failed attempt (a reader drops repeats by id: kafkalog consume "
             "--dedup)") if retried else ""
    say(f"kafkalog tail: stopped after {agent.lines_shipped} entries; {report.delivered} delivered{kept}{again}")
    return 0
