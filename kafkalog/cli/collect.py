"""``kafkalog collect``: argument parsing and signals over :mod:`kafkalog.collector` (which does the work)."""

from __future__ import annotations

import argparse
import grp
import json
import os
import signal
import sys
import threading
from typing import Any

DESCRIPTION = """Run a local collector: processes of this host hand their records to it over a Unix socket
(KafkaHandler(collector=PATH, topic=...)), and it ships them with one producer until SIGTERM/SIGINT."""
EPILOG = """exit codes: 0 stopped cleanly (or --stats/--health: healthy), 1 the socket is in use by a running
collector (or --stats/--health: no collector answers), 2 bad command line, 3 configuration (socket directory
missing, bad option), 4-7 --check failed (as kafkalog check), 8 --health: the collector answers but cannot ship"""
DEFAULT_SOCKET = "/run/kafkalog/collector.sock"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("collect", help="run a local collector that ships the records of this host's "
                                              "processes with one producer",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--socket", default=DEFAULT_SOCKET, metavar="PATH", help="Unix socket (default: %(default)s)")
    p.add_argument("--bootstrap-servers", metavar="HOST:PORT[,HOST:PORT]")
    p.add_argument("--config", metavar="FILE", help="TOML file whose [kafkalog] table holds KafkaHandler options "
                                                    "(client, security, queue, spool), as for kafkalog tail")
    p.add_argument("--transport", choices=("auto", "kafka-python", "confluent"), default="auto",
                   help="Kafka client: auto (default) picks confluent when installed, else kafka-python")
    p.add_argument("--spool-dir", metavar="DIR", help="disk spool: a batch is acknowledged once it is on disk, "
                                                     "so it survives a crash of the collector")
    p.add_argument("--spool-max-bytes", type=int, metavar="BYTES", help="with --spool-dir (default: 1 GiB)")
    p.add_argument("--fsync", action="store_true", help="with --spool-dir: fsync each write")
    p.add_argument("--queue-max-records", type=int, metavar="N", help="the collector's memory queue bound")
    p.add_argument("--queue-max-bytes", type=int, metavar="BYTES", help="the collector's memory queue bound")
    p.add_argument("--socket-mode", type=lambda text: int(text, 8), default=0o600, metavar="OCTAL",
                   help="permissions of the socket file (default: 0600, the collector's user only)")
    p.add_argument("--group", metavar="GROUP", help="group of the socket file; its members may hand records over "
                                                    "(use with --socket-mode 0660)")
    p.add_argument("--allow-group", action="append", default=[], metavar="GROUP",
                   help="also accept processes of this group (repeatable; the socket mode must let them in)")
    p.add_argument("--max-clients", type=int, default=256, metavar="N", help="connections at once (default: 256)")
    p.add_argument("--max-frame-bytes", type=int, default=8 * 1024 * 1024, metavar="BYTES",
                   help="largest batch frame a client may send (default: 8 MiB)")
    p.add_argument("--close-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="at SIGTERM, how long to deliver what was acknowledged (default: %(default)s)")
    p.add_argument("--check", metavar="TOPIC", help="before serving, send a probe record to TOPIC and read it back "
                                                    "(as kafkalog check); exit with its code if it fails")
    p.add_argument("--stats", action="store_true", help="print a running collector's stats as JSON and exit")
    p.add_argument("--health", action="store_true", help="exit 0 if a running collector answers and ships")


def run(args: argparse.Namespace) -> int:
    def say(text: str) -> None:
        print(f"kafkalog collect: {text}", file=sys.stderr, flush=True)

    if args.stats or args.health:
        return _ask(args, say)
    from ..collector import Collector, CollectorError, ListenSettings
    from ..config import KafkaLogConfig
    from ..errors import ConfigError

    try:
        options = _options(args)
        if args.check:
            code = _check(options, args.check, say)
            if code:
                return code
        config = KafkaLogConfig(topic="kafkalog-collector", handle_sigterm=False, **options)
        group = _gid(args.group, "--group") if args.group else None
        listen = ListenSettings(
            socket_path=os.path.abspath(args.socket), socket_mode=args.socket_mode, group=group,
            allowed_groups=frozenset(_gid(name, "--allow-group") for name in args.allow_group),
            max_clients=args.max_clients, max_frame=args.max_frame_bytes)
        _check_listen(listen)
        collector = Collector(config, listen)
        collector.start()
    except CollectorError as exc:
        say(str(exc))
        return exc.code
    except (ConfigError, ValueError, TypeError) as exc:
        say(str(exc))
        return 3
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    say(f"listening on {listen.socket_path} (mode {listen.socket_mode:04o}), shipping to "
        f"{','.join(config.servers)} with {config.transport_spec.name}"
        + (f", spool in {config.spool_dir}" if config.spool_dir else ""))
    while not stop.wait(0.5) and collector.running:
        pass
    stats = collector.stats()
    report = collector.close(args.close_timeout)
    kept = f", {report.spooled} kept in the spool for the next start" if report.spooled else ""
    left = f", {report.left} not delivered" if report.left else ""
    say(f"stopped: {stats['records']} records from {stats['batches']} batches taken; {report.delivered} "
        f"delivered{left}{kept}")
    return 0


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """KafkaLogConfig options: the config file's [kafkalog] table, then the command line's."""
    options: dict[str, Any] = {"batch_max_records": 2000}
    if args.config:
        from ..tail import load_settings
        options.update(load_settings(args.config).shipper)
    if args.bootstrap_servers:
        options["bootstrap_servers"] = args.bootstrap_servers
    if "bootstrap_servers" not in options:
        raise ValueError("--bootstrap-servers (or bootstrap_servers in --config's [kafkalog] table) is required")
    for name in ("queue_max_records", "queue_max_bytes"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    options["close_timeout"] = args.close_timeout
    if args.spool_dir:
        options["spool_dir"] = args.spool_dir
        options["spool_full_policy"] = "block"  # acknowledged means on disk; a full spool holds the clients back
        options.setdefault("spool_max_bytes", args.spool_max_bytes or 1024 ** 3)
        options["spool_fsync"] = args.fsync or bool(options.get("spool_fsync"))
    elif args.spool_max_bytes is not None or args.fsync:
        raise ValueError("--spool-max-bytes and --fsync apply to the disk spool only; add --spool-dir")
    if args.transport != "auto":
        options["transport"] = args.transport
    elif "transport" not in options:
        import importlib.util
        has_confluent = importlib.util.find_spec("confluent_kafka") is not None
        options["transport"] = "confluent" if has_confluent and "producer_config" not in options else "kafka-python"
    return options


def _check_listen(listen: Any) -> None:
    if not 0 <= listen.socket_mode <= 0o777:
        raise ValueError(f"--socket-mode: {listen.socket_mode:o} is not a mode from 000 to 777")
    if listen.max_clients < 1:
        raise ValueError("--max-clients: must be at least 1")
    if listen.max_frame < 64 * 1024:
        raise ValueError("--max-frame-bytes: must be at least 65536")


def _gid(name: str, flag: str) -> int:
    try:
        return int(name) if name.isdigit() else grp.getgrnam(name).gr_gid
    except KeyError:
        raise ValueError(f"{flag}: no group named {name!r}") from None


def _check(options: dict[str, Any], topic: str, say: Any) -> int:
    from ..check import run_check

    check_options = {k: v for k, v in options.items() if not k.startswith(("spool_", "queue_", "batch_"))}
    report = run_check({**check_options, "topic": topic}, timeout=30.0, on_step=lambda step: say(step.line()))
    return 0 if report.ok else report.exit_code


def _ask(args: argparse.Namespace, say: Any) -> int:
    from ..transports.collector import query_stats

    try:
        stats = query_stats(os.path.abspath(args.socket), timeout=5.0)
    except (OSError, ValueError) as exc:
        say(f"no collector answers on {args.socket}: {exc}")
        return 1
    if args.stats:
        print(json.dumps(stats, indent=2, sort_keys=True))
    from ..collector._health import health

    healthy, said = health(stats)
    if args.health:
        say(f"healthy, {said}" if healthy else said)
        return 0 if healthy else 8
    return 0
