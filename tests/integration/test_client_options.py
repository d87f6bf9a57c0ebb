"""The client options against a real broker: the same handler options, only ``transport=`` changed, deliver over
SASL_SSL and SASL_PLAINTEXT (PLAIN and SCRAM-SHA-256, the mechanisms the test broker enables) on both transports;
a wrong password is counted as ``auth_failed`` on both; every compression codec delivers on both.

Records are read back over the broker's PLAINTEXT listener and checked seq by seq.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from kafka_util import TopicFactory, read_sequence
from support import wait_until

from kafkalog import KafkaHandler
from kafkalog.testing import LocalKafka

pytestmark = pytest.mark.integration

TRANSPORTS = ("kafka-python", "confluent")
COUNT = 50


def _logger(handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(f"client-options-test.{uuid.uuid4().hex[:8]}")
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return log


def _options(broker: LocalKafka, protocol: str, mechanism: str, password: str | None = None) -> dict[str, Any]:
    """The options a user writes, the same for every transport."""
    user = broker.users[mechanism]
    options: dict[str, Any] = {"security_protocol": protocol, "sasl_mechanism": mechanism,
                               "sasl_username": user.name, "sasl_password": password or user.password}
    if protocol == "SASL_SSL":
        options["ssl_ca_file"] = str(broker.ca_file)
    return options


def _ship(bootstrap: str, topic: str, count: int, **options: Any) -> KafkaHandler:
    handler = KafkaHandler(bootstrap, topic, **options)
    log = _logger(handler)
    for seq in range(count):
        log.info("record %d", seq, extra={"seq": seq})
    return handler


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", ["SASL_SSL+PLAIN", "SASL_SSL+SCRAM-SHA-256", "SASL_PLAINTEXT+SCRAM-SHA-256"])
def test_same_options_deliver_on_both_transports(secure_kafka: LocalKafka, case: str, transport: str) -> None:
    protocol, _, mechanism = case.partition("+")
    topic = f"opts-{protocol.lower()}-{uuid.uuid4().hex[:8]}"
    secure_kafka.create_topic(topic)
    reports: list[str] = []
    handler = _ship(secure_kafka.bootstrap_for(protocol), topic, COUNT, transport=transport, on_error=reports.append,
                    **_options(secure_kafka, protocol, mechanism))
    try:
        assert handler.flush(60), f"not delivered within 60 s: {handler.stats()}"
        stats = handler.stats()
    finally:
        handler.close(5)
    assert (stats.delivered, stats.dropped, reports) == (COUNT, {}, [])
    check = read_sequence(secure_kafka.bootstrap, topic, COUNT)
    assert check.each_once and check.out_of_order == 0, check.summary()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_wrong_password_counted_as_auth_failed(secure_kafka: LocalKafka, transport: str) -> None:
    """Both transports drop what the broker refuses as auth_failed, and never show the password."""
    wrong = f"wrong-{uuid.uuid4().hex}"
    reports: list[str] = []
    handler = _ship(secure_kafka.bootstrap_for("SASL_SSL"), f"denied-{uuid.uuid4().hex[:8]}", 20,
                    transport=transport, on_error=reports.append, error_interval=600,
                    **_options(secure_kafka, "SASL_SSL", "PLAIN", password=wrong))
    try:
        # a first attempt can end as broker_unavailable on a busy machine (retried): wait for the refusal itself
        assert wait_until(lambda: handler.stats().dropped.get("auth_failed", 0) > 0, 90), handler.stats()
        stats = handler.stats()
        shown = "\n".join([repr(handler), repr(handler.config), str(stats), *reports])
    finally:
        handler.close(2)
    assert set(stats.dropped) <= {"auth_failed", "shutdown"}, stats
    assert stats.delivered == 0
    assert wrong not in shown
    assert "sasl_password='***'" in shown


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_compression_codecs_deliver(kafka_bootstrap: str, make_topic: TopicFactory, codec: str,
                                    transport: str) -> None:
    topic = make_topic()
    handler = _ship(kafka_bootstrap, topic, COUNT, transport=transport, compression=codec, acks="all",
                    producer_linger=0.01, producer_batch_bytes=64 * 1024)
    try:
        assert handler.flush(30), f"not delivered within 30 s: {handler.stats()}"
        stats = handler.stats()
    finally:
        handler.close(5)
    assert (stats.delivered, stats.dropped) == (COUNT, {})
    check = read_sequence(kafka_bootstrap, topic, COUNT)
    assert check.each_once, check.summary()
