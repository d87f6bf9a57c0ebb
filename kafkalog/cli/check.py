"""``kafkalog check``: one line per step (ok/FAIL), exit code by the first failure (docs/check.md).

Thin by design: the options become KafkaHandler options here, and :func:`kafkalog.check.run_check` does the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ._flags import UsageError, add_connection, add_security, security_options

EPILOG = """exit codes: 0 all passed, 2 bad command line, 3 configuration, 4 connection, 5 authentication (SASL, TLS),
6 topic, 7 round trip (probe not delivered or not read back), 1 internal error"""

# producer options of KafkaLogConfig that take a value as given (the security ones are in _flags)
_PRODUCER_FLAGS = ("compression", "acks")


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)  # numbers, true/false, null, lists
    except ValueError:
        return key.strip(), value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check", help="check a configuration end to end: config, connection, login, topic, a probe record",
        description="Check that kafkalog can ship logs with this configuration: validate the options, connect, "
                    "authenticate, check the topic, send a probe record and read it back.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_connection(parser, servers_required=False, topic_required=False,
                   topic_help="topic to probe (default: the configured one)",
                   transports=("kafka-python", "confluent"), transport_default=None,
                   transport_help="the Kafka client (default: the configured one, else kafka-python)")
    parser.add_argument("--config", metavar="FILE",
                        help="logging config: dictConfig as JSON, YAML or TOML, or fileConfig INI; every KafkaHandler "
                             "in it is checked (options given here override its own)")
    parser.add_argument("--collector", metavar="SOCKET",
                        help="check a local collector (kafkalog collect) instead of a broker: its socket, the "
                             "permission to use it, a probe record handed over and delivered, its health")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="the whole check ends within this (default %(default)s)")
    add_security(parser)
    group = parser.add_argument_group("producer options", "the KafkaHandler options of the same names "
                                                          "(docs/configuration.md), for either transport")
    group.add_argument("--compression", choices=("none", "gzip", "snappy", "lz4", "zstd"))
    group.add_argument("--acks", type=_acks, help="0, 1 or all")
    group.add_argument("-X", "--producer-option", dest="producer_options", type=_key_value, action="append",
                       default=[], metavar="KEY=VALUE",
                       help="any producer_config option of the transport, e.g. -X linger_ms=20 (repeatable)")


def _acks(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """KafkaHandler options from the command line: only those given, so a config file's own stay otherwise."""
    options: dict[str, Any] = {}
    for name in ("bootstrap_servers", "collector", "topic", "transport", *_PRODUCER_FLAGS):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    options.update(security_options(args, os.environ))
    if args.producer_options:
        options["producer_config"] = dict(args.producer_options)
    return options


def run(args: argparse.Namespace) -> int:
    from ..check import run_check

    if args.config is None and ((args.bootstrap_servers is None and args.collector is None) or args.topic is None):
        missing = "-t/--topic" if args.topic is None else "-b/--bootstrap-servers"
        raise UsageError(f"{missing} is required without --config" + (" or --collector" if args.topic else ""))
    options = _options(args)
    report = run_check(options, config_file=args.config, topic=args.topic, timeout=args.timeout,
                       on_step=lambda step: print(step.line(), flush=True))
    code = report.exit_code
    print(f"{'ok' if report.ok else 'FAIL'}: exit {code}", flush=True)
    sys.stdout.flush()
    if not report.complete:
        os._exit(code)  # a step left running (a broker that never answers) must not hold up the exit
    return code
