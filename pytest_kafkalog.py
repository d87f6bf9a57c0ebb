"""kafkalog's pytest plugin: fixtures for testing an application's logging to Kafka (see docs/testing.md).

pytest loads it in every run where kafkalog is installed (entry point ``pytest11``), so this module imports only
the standard library and pytest, and starts nothing: a broker starts when a test first asks for one. It is a
top-level module rather than ``kafkalog.pytest_plugin`` because importing anything under ``kafkalog`` imports the
package (about 50 ms), which a run that never uses these fixtures should not pay.

- ``kafka_bootstrap`` (session): ``bootstrap_servers`` of a real broker: ``$KAFKALOG_TEST_BOOTSTRAP`` if set,
  else a local Apache Kafka started for the session (:class:`kafkalog.testing.LocalKafka`).
- ``kafka_broker`` (session): that local broker itself (skips the test when ``$KAFKALOG_TEST_BOOTSTRAP`` is set).
- ``kafka_topic`` / ``kafka_topic_factory``: a new topic of the test's own, ready to be written to.
- ``kafka_records``: reads a topic back as the JSON objects kafkalog shipped.
- ``kafka_capture``: no broker at all; every handler and sink made in the test ships into memory.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from kafkalog.testing import LocalKafka
    from kafkalog.testing.capture import RecordCapture

BOOTSTRAP_ENV = "KAFKALOG_TEST_BOOTSTRAP"


class TopicFactory(Protocol):
    """Type of the ``kafka_topic_factory`` fixture."""

    def __call__(self, partitions: int = 1, name: str | None = None,
                 config: dict[str, str] | None = None) -> str: ...


RecordsReader = Callable[..., list[dict[str, Any]]]
"""Type of the ``kafka_records`` fixture: ``(topic, count=None, *, timeout=30.0) -> list[dict]``."""


def external_bootstrap() -> str | None:
    """``$KAFKALOG_TEST_BOOTSTRAP`` (``host:port[,host:port]``), or None when the plugin should start a broker."""
    return os.environ.get(BOOTSTRAP_ENV, "").strip() or None


def topic_name(test_name: str) -> str:
    """A new topic name that says which test made it: ``t-<test name>-<8 hex digits>``."""
    # Topic names allow [a-zA-Z0-9._-] up to 249 chars; keep them short enough to read in broker logs.
    stem = re.sub(r"[^a-zA-Z0-9._-]+", "-", test_name).strip("-.")[:80] or "test"
    return f"t-{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[LocalKafka]:
    """The session's local Apache Kafka broker (KRaft, started from Maven Central jars; needs java and mvn).

    Skips the test when ``$KAFKALOG_TEST_BOOTSTRAP`` is set: the broker is then not ours to restart or stop.
    """
    if external_bootstrap() is not None:
        pytest.skip(f"needs the broker the test session starts, but {BOOTSTRAP_ENV} is set")
    from kafkalog.testing import LocalKafka

    with LocalKafka() as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """``bootstrap_servers`` for the session: ``$KAFKALOG_TEST_BOOTSTRAP``, or the session's local broker."""
    external = external_bootstrap()
    if external is not None:
        return external
    broker: LocalKafka = request.getfixturevalue("kafka_broker")
    return broker.bootstrap


@pytest.fixture
def kafka_topic_factory(kafka_bootstrap: str, request: pytest.FixtureRequest) -> TopicFactory:
    """``make(partitions=1, name=None, config=None) -> name``: create a topic and wait until it has leaders."""

    def make(partitions: int = 1, name: str | None = None, config: dict[str, str] | None = None) -> str:
        from kafkalog.testing import create_topic

        name = name or topic_name(request.node.name)
        create_topic(kafka_bootstrap, name, partitions=partitions, config=config)
        return name

    return make


@pytest.fixture
def kafka_topic(kafka_topic_factory: TopicFactory) -> str:
    """A new topic with one partition, unique to this test."""
    return kafka_topic_factory(1)


@pytest.fixture
def kafka_records(kafka_bootstrap: str) -> RecordsReader:
    """``read(topic, count=None, *, timeout=30.0) -> list[dict]``: the topic's records as JSON objects.

    Reads from the beginning until ``count`` records arrived (then ~0.5 s more, so extra ones show), or with
    ``count=None`` up to the end the topic has when called; returns what it read by then, in offset order.
    Flush or close the handler first (``handler.flush()``), so the records are on the broker.
    """

    def read(topic: str, count: int | None = None, *, timeout: float = 30.0) -> list[dict[str, Any]]:
        from kafkalog.testing.reader import read_json

        return read_json(kafka_bootstrap, topic, count, timeout)

    return read


@pytest.fixture
def kafka_capture() -> Iterator[RecordCapture]:
    """Every KafkaHandler and KafkaSink made during the test ships into memory instead of to Kafka.

    ``kafka_capture.records()`` are the JSON objects that would have been sent (``messages()`` the raw messages
    with topic and key). Options are still checked; no broker is needed. A transport object passed explicitly
    (``transport=MemoryTransport(...)``) is kept.
    """
    from kafkalog.testing.capture import RecordCapture

    with RecordCapture() as capture:
        yield capture
