"""``kafkalog check``: one line per step (ok/FAIL), exit code by the first failure (docs/check.md).

Thin by design: the options become KafkaHandler options here, and :func:`kafkalog.check.run_check` does the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

EPILOG = """exit codes: 0 all passed, 2 bad command line, 3 configuration, 4 connection, 5 authentication (SASL, TLS),
6 topic, 7 round trip (probe not delivered or not read back), 1 internal error"""

# client options of KafkaLogConfig that take a value as given (the passwords come from the environment)
_CLIENT_FLAGS = ("security_protocol", "sasl_mechanism", "sasl_username", "ssl_ca_file", "ssl_cert_file",
                 "ssl_key_file", "compression")
_FROM_ENVIRONMENT = {"sasl_password_env": "sasl_password", "ssl_key_password_env": "ssl_key_password"}


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
    parser.add_argument("--bootstrap-servers", metavar="HOST:PORT[,HOST:PORT]")
    parser.add_argument("--topic", help="topic to probe (default: the configured one)")
    parser.add_argument("--config", metavar="FILE",
                        help="logging config: dictConfig as JSON or YAML, or fileConfig INI; every KafkaHandler in "
                             "it is checked (options given here override its own)")
    parser.add_argument("--transport", choices=("kafka-python", "confluent"))
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="the whole check ends within this (default %(default)s)")
    group = parser.add_argument_group("client options", "the KafkaHandler options of the same names "
                                                        "(docs/configuration.md), for either transport")
    group.add_argument("--security-protocol", choices=("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"))
    group.add_argument("--sasl-mechanism", help="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
    group.add_argument("--sasl-username")
    group.add_argument("--sasl-password-env", metavar="VAR",
                       help="read the SASL password from this environment variable (never from the command line)")
    group.add_argument("--ssl-ca-file", metavar="PEM", help="CA certificates to trust")
    group.add_argument("--ssl-cert-file", metavar="PEM", help="client certificate (mutual TLS)")
    group.add_argument("--ssl-key-file", metavar="PEM", help="client private key (mutual TLS)")
    group.add_argument("--ssl-key-password-env", metavar="VAR", help="read the key's password from this variable")
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
    for name in ("bootstrap_servers", "topic", "transport", "acks", *_CLIENT_FLAGS):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    for flag, option in _FROM_ENVIRONMENT.items():
        variable = getattr(args, flag)
        if variable:
            options[option] = os.environ.get(variable, "")
    if args.producer_options:
        options["producer_config"] = dict(args.producer_options)
    return options


def run(args: argparse.Namespace) -> int:
    from ..check import run_check

    if args.config is None and (args.bootstrap_servers is None or args.topic is None):
        print("kafkalog check: --bootstrap-servers and --topic are required without --config", file=sys.stderr)
        return 2
    for flag in _FROM_ENVIRONMENT:
        variable = getattr(args, flag)
        if variable and variable not in os.environ:
            print(f"kafkalog check: --{flag.replace('_', '-')}: ${variable} is not set", file=sys.stderr)
            return 2
    report = run_check(_options(args), config_file=args.config, topic=args.topic, timeout=args.timeout,
                       on_step=lambda step: print(step.line(), flush=True))
    code = report.exit_code
    print(f"{'ok' if report.ok else 'FAIL'}: exit {code}", flush=True)
    sys.stdout.flush()
    if not report.complete:
        os._exit(code)  # a step left running (a broker that never answers) must not hold up the exit
    return code
