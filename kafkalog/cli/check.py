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

# (option, kafka-python name, confluent name): the common connection options under one spelling
_PRODUCER_FLAGS = (
    ("security_protocol", "security_protocol", "security.protocol"),
    ("sasl_mechanism", "sasl_mechanism", "sasl.mechanism"),
    ("sasl_username", "sasl_plain_username", "sasl.username"),
    ("ssl_cafile", "ssl_cafile", "ssl.ca.location"),
)
_PASSWORD = ("sasl_plain_password", "sasl.password")


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
    group = parser.add_argument_group("producer options", "spelled the same for both transports")
    group.add_argument("--security-protocol", choices=("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"))
    group.add_argument("--sasl-mechanism", help="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, ...")
    group.add_argument("--sasl-username")
    group.add_argument("--sasl-password-env", metavar="VAR",
                       help="read the SASL password from this environment variable (never from the command line)")
    group.add_argument("--ssl-cafile", metavar="PEM")
    group.add_argument("-X", "--producer-option", dest="producer_options", type=_key_value, action="append",
                       default=[], metavar="KEY=VALUE",
                       help="any producer_config option of the transport, e.g. -X acks=all (repeatable)")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in ("bootstrap_servers", "topic", "transport"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    confluent = args.transport == "confluent"
    producer: dict[str, Any] = {}
    for flag, kafka_python, librdkafka in _PRODUCER_FLAGS:
        if getattr(args, flag) is not None:
            producer[librdkafka if confluent else kafka_python] = getattr(args, flag)
    if args.sasl_password_env:
        producer[_PASSWORD[confluent]] = os.environ.get(args.sasl_password_env, "")
    producer.update(dict(args.producer_options))
    if producer:
        options["producer_config"] = producer
    return options


def run(args: argparse.Namespace) -> int:
    from ..check import run_check

    if args.config is None and (args.bootstrap_servers is None or args.topic is None):
        print("kafkalog check: --bootstrap-servers and --topic are required without --config", file=sys.stderr)
        return 2
    if args.sasl_password_env and args.sasl_password_env not in os.environ:
        print(f"kafkalog check: --sasl-password-env: ${args.sasl_password_env} is not set", file=sys.stderr)
        return 2
    report = run_check(_options(args), config_file=args.config, topic=args.topic, timeout=args.timeout,
                       on_step=lambda step: print(step.line(), flush=True))
    code = report.exit_code
    print(f"{'ok' if report.ok else 'FAIL'}: exit {code}", flush=True)
    sys.stdout.flush()
    if not report.complete:
        os._exit(code)  # a step left running (a broker that never answers) must not hold up the exit
    return code
