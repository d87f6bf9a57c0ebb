"""One end-to-end case of bench/run_all.py, in a fresh interpreter; prints one JSON line on stdout.

    python bench/_e2e_case.py CASE --bootstrap HOST:PORT --topic TOPIC -n N [--warmup W]

CASE is one of: file, kafkalog-kafka-python, kafkalog-confluent, kafkalog-memory, bare-kafka-python,
bare-confluent, kafka-logging-handler, kafkaloghandler. The last two run under the python of their own venv
(see run_all.py), so this file imports nothing at module level that such a venv lacks (no kafkalog).

Every case: W warm-up records, then the timed part, which runs from the first call until the last record is
acknowledged by the broker (acks=all everywhere). Reported: wall seconds, process CPU seconds over the same span
(time.process_time: every thread, the client library's own ones included), and the library's own view of
whether all N records were delivered. The parent checks the count on the topic (end offsets) itself.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

EXTRA = {"action": "pay", "order": "A-1", "amount": 12.5}  # the record everywhere: 2 args, 3 extra fields
FLUSH_TIMEOUT = 120.0
Finish = Callable[[], tuple[bool, str]]


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def quiet_clients() -> None:
    """kafka-python logs under ``kafka.*`` (warnings reach stderr through logging.lastResort): keep it out."""
    client = logging.getLogger("kafka")
    client.addHandler(logging.NullHandler())
    client.propagate = False


def new_logger(handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger("bench.e2e")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    return log


def calls(log: logging.Logger, n: int) -> None:
    for _ in range(n):
        log.info("user %s paid %d", "alice", 42, extra=EXTRA)


def timed(run: Callable[[], None], finish: Finish) -> dict[str, Any]:
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    run()
    calls_done = time.perf_counter()
    ok, detail = finish()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"wall": wall, "cpu": cpu, "calls_wall": calls_done - wall0, "ok": ok, "detail": detail}


# --- the cases ---------------------------------------------------------------------------------------------


def case_file(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kafkalog-bench-") as tmp:
        path = Path(tmp) / "app.log"
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        log = new_logger(handler)
        calls(log, args.warmup)
        handler.flush()

        def finish() -> tuple[bool, str]:
            handler.flush()  # the end is the last write (no fsync: the page cache is what FileHandler gives)
            return True, ""

        result = timed(lambda: calls(log, args.n), finish)
        handler.close()
        lines = sum(1 for _ in path.open("rb"))
        result["ok"] = lines == args.warmup + args.n
        result["detail"] = f"{lines} lines in the file"
    result["versions"] = ""
    return result


def case_kafkalog(args: argparse.Namespace, transport: str) -> dict[str, Any]:
    from kafkalog import KafkaHandler
    from kafkalog.transports import MemoryTransport

    errors: list[str] = []
    if transport == "memory":
        handler = KafkaHandler("127.0.0.1:9", "bench-memory", transport=MemoryTransport(), on_error=errors.append)
    else:
        handler = KafkaHandler(args.bootstrap, args.topic, transport=transport, on_error=errors.append)
    log = new_logger(handler)
    calls(log, args.warmup)
    if not handler.flush(FLUSH_TIMEOUT):
        return {"ok": False, "error": f"warm-up records not delivered: {handler.stats()}"}
    before = handler.stats()

    def finish() -> tuple[bool, str]:
        flushed = handler.flush(FLUSH_TIMEOUT)
        after = handler.stats()
        got = after.delivered - before.delivered
        lost = after.dropped_total - before.dropped_total
        detail = f"stats: {got} delivered, {lost} dropped" + (f"; errors: {errors[:2]}" if errors else "")
        return flushed and got == args.n and lost == 0, detail

    result = timed(lambda: calls(log, args.n), finish)
    handler.close()
    client = {"kafka-python": "kafka-python", "confluent": "confluent-kafka"}.get(transport)
    result["versions"] = f"{client} {version(client)}" if client else ""
    return result


def encoded_record() -> bytes:
    """The exact bytes kafkalog ships for the bench record (taken from the memory transport)."""
    from kafkalog import KafkaHandler
    from kafkalog.transports import MemoryTransport

    memory = MemoryTransport()
    handler = KafkaHandler("127.0.0.1:9", "bench-encode", transport=memory)
    log = new_logger(handler)
    log.info("user %s paid %d", "alice", 42, extra=EXTRA)
    handler.flush(10)
    handler.close()
    log.removeHandler(handler)
    return memory.values()[0]


def case_bare_kafka_python(args: argparse.Namespace) -> dict[str, Any]:
    """kafka-python's KafkaProducer with kafkalog's settings (its DEFAULTS; acks left at kafka-python's "all")."""
    from kafka import KafkaProducer

    from kafkalog.transports.kafka_python import DEFAULTS

    data = encoded_record()
    producer = KafkaProducer(bootstrap_servers=[args.bootstrap], **DEFAULTS)
    topic = args.topic
    futures: list[Any] = []

    def send(n: int) -> None:
        append, send_one, clock = futures.append, producer.send, time.time
        for _ in range(n):
            append(send_one(topic, value=data, timestamp_ms=int(clock() * 1000)))

    send(args.warmup)
    producer.flush(FLUSH_TIMEOUT)
    futures.clear()

    def finish() -> tuple[bool, str]:
        producer.flush(FLUSH_TIMEOUT)
        good = sum(1 for f in futures if f.is_done and f.succeeded())
        return good == args.n, f"{good} futures succeeded"

    result = timed(lambda: send(args.n), finish)
    producer.close(timeout=5)
    result["versions"] = f"kafka-python {version('kafka-python')}"
    return result


def case_bare_confluent(args: argparse.Namespace) -> dict[str, Any]:
    """confluent_kafka.Producer with kafkalog's confluent settings (its DEFAULTS, idempotence on for acks=all)."""
    import confluent_kafka

    from kafkalog.transports.confluent import validate

    data = encoded_record()
    conf = validate({})  # DEFAULTS, plus enable.idempotence for the default acks=all, as KafkaHandler gets
    conf["bootstrap.servers"] = args.bootstrap
    producer = confluent_kafka.Producer(conf)
    topic = args.topic
    outcome = {"ok": 0, "failed": 0}

    def on_delivery(err: Any, msg: Any) -> None:
        outcome["failed" if err is not None else "ok"] += 1

    def send(n: int) -> None:
        produce, poll, clock = producer.produce, producer.poll, time.time
        for _ in range(n):
            while True:
                try:
                    produce(topic, data, None, on_delivery=on_delivery, timestamp=int(clock() * 1000))
                    break
                except BufferError:
                    poll(0.01)

    def drain() -> None:
        deadline = time.monotonic() + FLUSH_TIMEOUT
        while len(producer) and time.monotonic() < deadline:
            producer.flush(1.0)

    send(args.warmup)
    drain()
    outcome.update(ok=0, failed=0)

    def finish() -> tuple[bool, str]:
        drain()
        return outcome["ok"] == args.n, f"{outcome['ok']} delivery reports ok, {outcome['failed']} failed"

    result = timed(lambda: send(args.n), finish)
    producer.flush(5)
    result["versions"] = f"confluent-kafka {version('confluent-kafka')}, librdkafka {confluent_kafka.libversion()[0]}"
    return result


def case_kafka_logging_handler(args: argparse.Namespace) -> dict[str, Any]:
    """PyPI ``kafka-logging-handler`` (module kafka_logger), over kafka-python.

    From its source (0.2.5): ``KafkaLoggingHandler(hosts_list, topic, security_protocol="SSL", ...)`` refuses to
    start without ``ssl_cafile`` unless ``security_protocol="PLAINTEXT"`` is given, and on a failed start it only
    logs and sets ``enabled = False`` (every record then vanishes). ``emit()`` appends a dict to a buffer; a
    ``Timer`` (``flush_interval=5`` s) or ``flush()`` sends the buffer with ``producer.send`` (JSON-encoding in the
    value_serializer) and then ``producer.flush()``, which waits for every acknowledgement (but raises for none).
    Everything else is left at its defaults (kafka-python's own: acks=all).
    """
    from kafka_logger.handlers import KafkaLoggingHandler

    handler = KafkaLoggingHandler([args.bootstrap], args.topic, security_protocol="PLAINTEXT")
    if not handler.enabled:
        return {"ok": False, "error": "handler did not start (enabled=False)"}
    log = new_logger(handler)
    calls(log, args.warmup)
    handler.flush()

    def finish() -> tuple[bool, str]:
        handler.flush()  # sends the buffer and waits for every acknowledgement
        return True, "count checked on the topic"

    result = timed(lambda: calls(log, args.n), finish)
    result["versions"] = (f"kafka-logging-handler {version('kafka-logging-handler')}, "
                          f"kafka-python {version('kafka-python')}")
    return result


def case_kafkaloghandler(args: argparse.Namespace) -> dict[str, Any]:
    """PyPI ``kafkaloghandler`` (0.9.0), over confluent-kafka.

    From its source: ``KafkaLogHandler(bootstrap_servers=[...], topic=..., extra_config={})``; ``extra_config`` is
    a mutable default that the constructor updates, so a fresh dict is passed. ``emit()`` JSON-encodes the record's
    ``__dict__`` and calls ``produce()`` + ``poll(0)`` on the caller's thread; ``flush()`` is ``producer.flush(10)``
    (returns what is left, raises nothing), so the end is when librdkafka's queue is empty. librdkafka's default is
    acks=all.
    """
    from kafkaloghandler import KafkaLogHandler

    handler = KafkaLogHandler(bootstrap_servers=[args.bootstrap], topic=args.topic, extra_config={})
    log = new_logger(handler)

    def drain() -> None:
        deadline = time.monotonic() + FLUSH_TIMEOUT
        handler.flush()
        while handler.producer is not None and len(handler.producer) and time.monotonic() < deadline:
            handler.flush()

    calls(log, args.warmup)
    drain()

    def finish() -> tuple[bool, str]:
        drain()
        left = len(handler.producer) if handler.producer is not None else -1
        return left == 0, f"{left} left in librdkafka's queue; count checked on the topic"

    result = timed(lambda: calls(log, args.n), finish)
    import confluent_kafka

    result["versions"] = (f"kafkaloghandler {version('kafkaloghandler')}, confluent-kafka "
                          f"{version('confluent-kafka')}, librdkafka {confluent_kafka.libversion()[0]}")
    return result


CASES: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "file": case_file,
    "kafkalog-kafka-python": lambda a: case_kafkalog(a, "kafka-python"),
    "kafkalog-confluent": lambda a: case_kafkalog(a, "confluent"),
    "kafkalog-memory": lambda a: case_kafkalog(a, "memory"),
    "bare-kafka-python": case_bare_kafka_python,
    "bare-confluent": case_bare_confluent,
    "kafka-logging-handler": case_kafka_logging_handler,
    "kafkaloghandler": case_kafkaloghandler,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--bootstrap", default="127.0.0.1:9")
    parser.add_argument("--topic", default="bench-e2e")
    parser.add_argument("-n", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=500)
    args = parser.parse_args()
    quiet_clients()
    try:
        result = CASES[args.case](args)
    except Exception as exc:
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
