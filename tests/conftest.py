"""The suite's own fixtures, on top of kafkalog's pytest plugin (``pytest_kafkalog``, loaded by its entry point).

The plugin gives ``kafka_bootstrap``, ``kafka_broker`` (the session's broker), ``kafka_topic``,
``kafka_topic_factory``, ``kafka_records`` and ``kafka_capture``, the same fixtures users get (docs/testing.md).
Here: the short names the suite's tests use, and brokers of a test's own. Set ``KAFKALOG_TEST_BOOTSTRAP=host:port``
to run against an existing broker instead of starting one; tests that must kill or restart the broker are then
skipped.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import otelcol_util
import pytest
from kafka_util import TopicFactory

import pytest_kafkalog
from kafkalog.testing import LocalKafka, LocalKafkaCluster


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long-running test (broker restarts, large volumes); run in CI")
    config.addinivalue_line("markers", "integration: needs the real Kafka broker started by the test suite")
    config.addinivalue_line("markers", "otelcol: needs the OpenTelemetry Collector (built once per machine)")
    # A background job of a non-interactive shell (`make test &`, nohup, some CI runners) starts with SIGINT
    # ignored, and every program the tests start would inherit that: a server "Ctrl-C"ed by a test would never
    # stop. Python's own handler is reset to the default across exec, so the servers start as from a terminal.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start building the Collector at once if a selected test needs it (it takes minutes the first time)."""
    if any(item.get_closest_marker("otelcol") for item in session.items):
        otelcol_util.start_build()


def _skip_if_external() -> None:
    if pytest_kafkalog.external_bootstrap() is not None:
        pytest.skip(f"needs a broker the suite controls (to kill/restart it), but {pytest_kafkalog.BOOTSTRAP_ENV} "
                    "is set")


@pytest.fixture(scope="session")
def _restartable_kafka() -> Iterator[LocalKafka]:
    _skip_if_external()
    with LocalKafka() as broker:
        yield broker


@pytest.fixture
def private_kafka(_restartable_kafka: LocalKafka) -> LocalKafka:
    """A broker apart from the session's, for tests that kill, pause or restart it.

    One for all of them (a start costs 3-5 s, 10-20 s on a busy machine), each test with topics of its own: a test
    that left it down (killed, stopped) gets it restarted before the next one, on the same address and data.
    """
    broker = _restartable_kafka
    if not broker.running:
        broker.restart()
    return broker


@pytest.fixture(scope="session")
def secure_kafka() -> Iterator[LocalKafka]:
    """One broker for the session with SASL_PLAINTEXT, SSL and SASL_SSL listeners next to PLAINTEXT (~7-10 s to
    start, 25 s on a busy machine): shared by the security, client option, check and consume tests, which only
    connect to it (wrong passwords and untrusted certificates included) and use topics of their own."""
    with LocalKafka(security=True) as broker:
        yield broker


@pytest.fixture(scope="session")
def _shared_cluster() -> Iterator[LocalKafkaCluster]:
    with LocalKafkaCluster(3) as cluster:
        yield cluster


@pytest.fixture
def kafka_cluster(_shared_cluster: LocalKafkaCluster) -> LocalKafkaCluster:
    """Three Kafka nodes (~10-15 s to start, 20-45 s on a busy machine), for replication and failover tests.

    One cluster for all of them, each test with topics of its own: a node a test left killed is restarted before
    the next one. Always started by the suite, even with ``$KAFKALOG_TEST_BOOTSTRAP`` set: tests kill nodes.
    """
    for node in _shared_cluster.node_ids:
        if not _shared_cluster.running(node):
            _shared_cluster.restart(node)
    return _shared_cluster


@pytest.fixture
def make_topic(kafka_topic_factory: pytest_kafkalog.TopicFactory) -> TopicFactory:
    """Factory: ``make_topic(partitions=1, name=None)`` creates a new topic (unique name by default)."""
    return kafka_topic_factory


@pytest.fixture
def topic(kafka_topic: str) -> str:
    """A new topic with one partition, unique to this test."""
    return kafka_topic
