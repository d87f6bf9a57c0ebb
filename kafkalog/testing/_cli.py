"""``python -m kafkalog.testing``: run a local broker (or cluster) until Ctrl-C, or just fetch the jars."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from ._errors import KafkaBrokerError
from ._jars import DEFAULT_KAFKA_VERSION, fetch_kafka_jars
from .broker import LocalKafka
from .cluster import LocalKafkaCluster
from .security import SECURE_PROTOCOLS

log = logging.getLogger("kafkalog.testing")


def _parse_property(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kafkalog.testing",
        description="Run a local Apache Kafka broker (KRaft) from Maven Central jars.",
    )
    parser.add_argument("--version", default=DEFAULT_KAFKA_VERSION, help="Kafka version (default %(default)s)")
    parser.add_argument("--port", type=int, default=None, help="PLAINTEXT port (default: a free one)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep config, logs and data here")
    parser.add_argument(
        "--property",
        "-p",
        dest="properties",
        type=_parse_property,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra server.properties entry (repeatable)",
    )
    parser.add_argument("--startup-timeout", type=float, default=90.0, metavar="SECONDS")
    parser.add_argument(
        "--security",
        action="store_true",
        help="also listen with SASL_PLAINTEXT, SSL and SASL_SSL (prints ports, CA file and users)",
    )
    parser.add_argument("--nodes", type=int, default=1, help="run a cluster of this many nodes (default 1)")
    parser.add_argument("--fetch-only", action="store_true", help="download the jars into the cache and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a broker until SIGINT/SIGTERM; prints ``bootstrap=127.0.0.1:PORT`` once it is ready."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.fetch_only:
        try:
            print(f"kafka jars: {fetch_kafka_jars(args.version)}", flush=True)
        except KafkaBrokerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    # Our own progress at INFO; kafka-python's readiness probes are too chatty for that level.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO)

    broker: LocalKafka | LocalKafkaCluster
    try:
        if args.nodes != 1:
            if args.security or args.port:
                parser.error("--nodes cannot be combined with --security or --port")
            broker = LocalKafkaCluster(
                args.nodes,
                version=args.version,
                workdir=args.workdir,
                properties=dict(args.properties),
                startup_timeout=args.startup_timeout,
            )
        else:
            broker = LocalKafka(
                version=args.version,
                port=args.port or None,  # --port 0: any free port
                workdir=args.workdir,
                properties=dict(args.properties),
                startup_timeout=args.startup_timeout,
                security=args.security,
            )
    except ValueError as exc:
        parser.error(str(exc))

    stop_requested = threading.Event()
    ready = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not ready:
            raise KeyboardInterrupt  # abort startup; __enter__ kills the JVMs
        stop_requested.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with broker:
            ready = True
            print(f"bootstrap={broker.bootstrap}", flush=True)
            if isinstance(broker, LocalKafka) and args.security:
                for protocol in SECURE_PROTOCOLS:
                    print(f"{protocol}={broker.bootstrap_for(protocol)}", flush=True)
                print(broker.security.describe(), flush=True)
            log.info("workdir: %s; stop with Ctrl-C", broker.workdir)
            while not stop_requested.wait(0.5):
                down = _down(broker)
                if down:
                    log.error("Kafka exited unexpectedly:\n%s", down)
                    return 1
            log.info("stopping")
        return 0
    except KeyboardInterrupt:
        return 130
    except KafkaBrokerError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _down(broker: LocalKafka | LocalKafkaCluster) -> str:
    """Log tails of JVMs that died, or empty while all run."""
    if isinstance(broker, LocalKafka):
        return "" if broker.running else broker.log_tail()
    return "\n".join(broker.log_tail(n) for n in broker.node_ids if not broker.running(n))
