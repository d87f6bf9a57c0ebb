"""kafkalog end to end: start a local Kafka, log through dictConfig and loguru, read the records back.

Run with ``make demo``. Set KAFKALOG_BOOTSTRAP=host:port to use a broker you already have.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import sys
import uuid
from contextlib import ExitStack


def read_back(bootstrap: str, topic: str, expected: int) -> list[dict[str, object]]:
    """Read every record of ``topic`` from the beginning (kafka-python consumer, manual assignment)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        events: list[dict[str, object]] = []
        for _ in range(30):
            for batch in consumer.poll(timeout_ms=1000).values():
                events.extend(json.loads(message.value) for message in batch)
            if len(events) >= expected:
                break
        return events
    finally:
        consumer.close()


def log_with_stdlib(bootstrap: str, topic: str) -> None:
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"kafka": {"class": "kafkalog.KafkaHandler", "bootstrap_servers": bootstrap, "topic": topic,
                               "static_fields": {"service": "billing"}}},
        "root": {"level": "INFO", "handlers": ["kafka"]},
    })
    log = logging.getLogger("billing.api")
    log.info("user %s paid", "alice", extra={"action": "pay", "amount": 12.5})
    try:
        {}["card"]
    except KeyError:
        log.exception("charge failed", extra={"action": "charge", "order": "A-17"})
    handler = logging.getLogger().handlers[0]
    logging.shutdown()  # drains within close_timeout, like interpreter exit does
    print(f"stdlib handler: {handler.stats().delivered} delivered, {handler.stats().dropped or 'none'} dropped")


def log_with_loguru(bootstrap: str, topic: str) -> None:
    from loguru import logger

    from kafkalog import KafkaSink

    logger.remove()
    sink = KafkaSink(bootstrap_servers=bootstrap, topic=topic, static_fields={"service": "checkout"})
    sink_id = logger.add(sink)
    logger.bind(action="ship").info("parcel {} sent to {city}", "P-9", city="Zürich")
    logger.remove(sink_id)  # stop() drains
    print(f"loguru sink: {sink.stats().delivered} delivered, {sink.stats().dropped or 'none'} dropped")


def main() -> int:
    topic = f"demo-logs-{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        bootstrap = os.environ.get("KAFKALOG_BOOTSTRAP")
        if not bootstrap:
            from kafkalog.testing import LocalKafka

            print("starting a local Apache Kafka broker (first run downloads the jars from Maven Central)...")
            broker = stack.enter_context(LocalKafka())
            bootstrap = broker.bootstrap
        print(f"broker at {bootstrap}, topic {topic}\n")
        log_with_stdlib(bootstrap, topic)
        log_with_loguru(bootstrap, topic)
        events = read_back(bootstrap, topic, expected=3)
        print(f"\nread {len(events)} records back from Kafka topic {topic}:\n")
        for event in events:
            exception = event.get("exception")
            if isinstance(exception, dict):  # keep the demo output short
                exception["stack"] = exception["stack"].strip().splitlines()[-1] + "  [stack shortened]"
            print(json.dumps(event, indent=2, ensure_ascii=False))
        return 0 if len(events) == 3 else 1


if __name__ == "__main__":
    sys.exit(main())
