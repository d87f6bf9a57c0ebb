"""Shared fixtures: one real Kafka broker per test session, and fresh topics per test.

Set ``KAFKALOG_TEST_BOOTSTRAP=host:port`` to run against an existing broker instead of starting one; tests
that must kill or restart the broker are then skipped.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest
from kafka_util import TopicFactory

from kafkalog.testing import LocalKafka, LocalKafkaCluster, create_topic

BOOTSTRAP_ENV = "KAFKALOG_TEST_BOOTSTRAP"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long-running test (broker restarts, large volumes); run in CI")
    config.addinivalue_line("markers", "integration: needs the real Kafka broker started by the test suite")


def _external_bootstrap() -> str | None:
    return os.environ.get(BOOTSTRAP_ENV, "").strip() or None


def _skip_if_external() -> None:
    if _external_bootstrap() is not None:
        pytest.skip(f"needs a broker the suite controls (to kill/restart it), but {BOOTSTRAP_ENV} is set")


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[LocalKafka]:
    """The session's own broker. A test that kills it must :meth:`~LocalKafka.restart` it before returning."""
    _skip_if_external()
    with LocalKafka() as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """``bootstrap_servers`` for the session: ``$KAFKALOG_TEST_BOOTSTRAP`` or the suite's own broker."""
    external = _external_bootstrap()
    if external is not None:
        return external
    broker: LocalKafka = request.getfixturevalue("kafka_broker")
    return broker.bootstrap


@pytest.fixture
def private_kafka() -> Iterator[LocalKafka]:
    """A broker of the test's own (~3-5 s to start), for tests that crash or restart it."""
    _skip_if_external()
    with LocalKafka() as broker:
        yield broker


@pytest.fixture
def kafka_cluster() -> Iterator[LocalKafkaCluster]:
    """Three Kafka nodes of the test's own (~10-15 s to start), for replication and failover tests.

    Always started by the suite, even with ``$KAFKALOG_TEST_BOOTSTRAP`` set: tests kill and restart its nodes.
    """
    with LocalKafkaCluster(3) as cluster:
        yield cluster


def _topic_name(test_name: str) -> str:
    # Topic names allow [a-zA-Z0-9._-] up to 249 chars; keep them short enough to read in broker logs.
    stem = re.sub(r"[^a-zA-Z0-9._-]+", "-", test_name).strip("-.")[:80] or "test"
    return f"t-{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_topic(kafka_bootstrap: str, request: pytest.FixtureRequest) -> TopicFactory:
    """Factory: ``make_topic(partitions=1, name=None)`` creates a new topic (unique name by default)."""

    def make(partitions: int = 1, name: str | None = None) -> str:
        name = name or _topic_name(request.node.name)
        create_topic(kafka_bootstrap, name, partitions=partitions)
        return name

    return make


@pytest.fixture
def topic(make_topic: TopicFactory) -> str:
    """A new topic with one partition, unique to this test."""
    return make_topic(1)
