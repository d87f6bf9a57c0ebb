"""``kafkalog tail``: argument parsing and signals over :mod:`kafkalog.tail` (which does the work)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..tail._etcd import EtcdSource
    from ..tail._kafka_source import KafkaTopicSource

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
    p.add_argument("--bootstrap-servers", required=True, metavar="HOST:PORT[,HOST:PORT]")
    p.add_argument("--topic", required=True, help="topic for the paths given here and for inputs without one")
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
    p.add_argument("--redact", action="append", default=[], metavar="PRESET", choices=("secrets", "pii"),
                   help="remove secrets or personal data from every record before it is spooled or sent "
                        "(repeatable; see docs/safety.md); the [kafkalog] table's redact= does the same")
    p.add_argument("--transport", choices=("auto", "kafka-python", "confluent"), default="auto",
                   help="Kafka client to ship with. auto (default): the config's [kafkalog] transport if set, else "
                        "confluent when installed (pip install 'kafkalog[confluent]'; several times faster), else "
                        "kafka-python; a config with producer_config (one client's option names) keeps "
                        "kafka-python under auto")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..tail import (
        StateDirInUse,
        TailAgent,
        TailSettings,
        load_settings,
        make_input,
        run_until_stopped,
        shipper_config,
    )

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    source: EtcdSource | KafkaTopicSource | None = None
    try:
        static = dict(_pair(item) for item in args.static_field)
        cli_inputs = []
        if args.paths:
            options: dict[str, Any] = {"paths": args.paths, "format": args.format, "start_at": args.start_at,
                                       "multiline_timeout": args.multiline_timeout, "static_fields": static}
            if args.multiline_start:
                options["multiline_start"] = args.multiline_start
            cli_inputs.append(make_input(options, "--"))

        if args.config_source and args.config_source.startswith("kafka:"):
            from ..tail._kafka_source import KafkaTopicSource
            # read with the shipper's security options: those of --config's [kafkalog] table
            file_shipper = load_settings(args.config).shipper if args.config else {}
            source = KafkaTopicSource(args.config_source, args.bootstrap_servers, file_shipper)
        elif args.config_source and args.config_source.startswith("etcd:"):
            from ..tail._etcd import EtcdSource
            source = EtcdSource(args.config_source)
        elif args.config_source:
            raise ValueError(f"--config-source: expected kafka://TOPIC/KEY or etcd://HOST:PORT/KEY, "
                             f"got {args.config_source!r}")

        def load() -> TailSettings:
            from_file = load_settings(args.config) if args.config else TailSettings(inputs=())
            remote = source.load() if source is not None else TailSettings(inputs=())
            return TailSettings(inputs=tuple(cli_inputs) + from_file.inputs + remote.inputs,
                                shipper={**from_file.shipper, **remote.shipper})

        settings = load()
        if not settings.inputs:
            raise ValueError("nothing to follow: give PATH_OR_GLOB arguments, --config or --config-source")
        shipper: dict[str, Any] = {"close_timeout": args.close_timeout, **settings.shipper}
        shipper["transport"] = _transport(args.transport, shipper)
        if args.redact:
            shipper["redact"] = sorted(set(args.redact))
        spool_options = [name for name in ("spool_max_bytes", "spool_segment_bytes", "spool_fsync")
                         if name in settings.shipper]
        if args.spool:
            shipper.setdefault("spool_max_bytes", args.spool_max_bytes or 1024 ** 3)
            shipper.setdefault("spool_fsync", args.fsync)
        elif args.spool_max_bytes is not None or args.fsync or spool_options:
            given = "--spool-max-bytes" if args.spool_max_bytes is not None else "--fsync" if args.fsync \
                else f"kafkalog.{spool_options[0]}"
            raise ValueError(f"{given}: applies to the disk spool only; add --spool")
        config = shipper_config(bootstrap_servers=args.bootstrap_servers, topic=args.topic,
                                state_dir=args.state_dir, options=shipper, spool=args.spool)
        reloadable = bool(args.config or source)
        agent = TailAgent(settings, config, args.state_dir, settings_loader=load if reloadable else None,
                          watch_file=args.config, scan_interval=args.scan_interval, rotate_wait=args.rotate_wait,
                          partial_timeout=args.partial_timeout, max_open=args.max_open, say=say)
    except (ConfigError, ValueError, StateDirInUse) as exc:
        say(f"kafkalog tail: {exc}")
        if source is not None:
            source.stop()
        return 1 if isinstance(exc, StateDirInUse) else 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: agent.request_reload())
    if source is not None:
        source.watch(agent.request_reload)
    say(f"kafkalog tail: following {len(settings.inputs)} input(s), state in {args.state_dir}, shipping with "
        f"{config.transport_spec.name}")
    report = run_until_stopped(agent, stop, config.close_timeout)
    if source is not None:
        source.stop()
    where = "in the spool" if args.spool else "to read again"
    kept = f", {report.spooled} kept {where} for the next start" if report.spooled else ""
    say(f"kafkalog tail: stopped after {agent.lines_shipped} entries; {report.delivered} delivered{kept}")
    return 0


def _transport(choice: str, shipper: dict[str, Any]) -> Any:
    """``--transport``, with ``auto`` resolved: the config's choice, else confluent when it is installed. Options in
    ``producer_config`` are in one client's own names: under ``auto`` they stay kafka-python's, as before ``auto``."""
    if choice != "auto":
        return choice
    if "transport" in shipper:
        return shipper["transport"]
    if "producer_config" in shipper or importlib.util.find_spec("confluent_kafka") is None:
        return "kafka-python"
    return "confluent"


def _pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValueError(f"--static-field: expected KEY=VALUE, got {item!r}")
    return key, value
