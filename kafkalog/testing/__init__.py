"""Test helpers: local Apache Kafka brokers started from Maven Central jars.

- :class:`LocalKafka` (:mod:`.broker`): one KRaft node; ``security=True`` adds SASL_PLAINTEXT, SSL and SASL_SSL.
- :class:`LocalKafkaCluster` (:mod:`.cluster`): three nodes for replication and failover tests.
- :func:`create_topic`, :func:`describe_partition` (:mod:`._admin`), :func:`make_keystore` (:mod:`.security`).
- :func:`read_records`, :func:`read_json`, :func:`count_records` (:mod:`.reader`): a topic read back in tests.
- :class:`RecordCapture`, :func:`capture_records` (:mod:`.capture`): what handlers would ship, without a broker.

The pytest fixtures built on these are in the ``pytest_kafkalog`` plugin (docs/testing.md).

Names are imported lazily: importing this package costs nothing until a name is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kafkalog.testing._admin import create_topic, describe_partition
    from kafkalog.testing._errors import BrokerStartError, JarFetchError, KafkaBrokerError, MissingToolError
    from kafkalog.testing._jars import DEFAULT_KAFKA_VERSION, fetch_kafka_jars
    from kafkalog.testing._props import new_cluster_id
    from kafkalog.testing.broker import LocalKafka
    from kafkalog.testing.capture import RecordCapture, capture_records
    from kafkalog.testing.cluster import LocalKafkaCluster
    from kafkalog.testing.reader import ConsumedRecord, count_records, read_json, read_records
    from kafkalog.testing.security import BrokerSecurity, SaslUser, TlsFiles, make_keystore

_WHERE = {
    "DEFAULT_KAFKA_VERSION": "_jars",
    "fetch_kafka_jars": "_jars",
    "BrokerStartError": "_errors",
    "JarFetchError": "_errors",
    "KafkaBrokerError": "_errors",
    "MissingToolError": "_errors",
    "create_topic": "_admin",
    "describe_partition": "_admin",
    "new_cluster_id": "_props",
    "LocalKafka": "broker",
    "LocalKafkaCluster": "cluster",
    "BrokerSecurity": "security",
    "SaslUser": "security",
    "TlsFiles": "security",
    "make_keystore": "security",
    "ConsumedRecord": "reader",
    "count_records": "reader",
    "read_json": "reader",
    "read_records": "reader",
    "RecordCapture": "capture",
    "capture_records": "capture",
}

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "BrokerSecurity",
    "BrokerStartError",
    "ConsumedRecord",
    "JarFetchError",
    "KafkaBrokerError",
    "LocalKafka",
    "LocalKafkaCluster",
    "MissingToolError",
    "RecordCapture",
    "SaslUser",
    "TlsFiles",
    "capture_records",
    "count_records",
    "create_topic",
    "describe_partition",
    "fetch_kafka_jars",
    "make_keystore",
    "new_cluster_id",
    "read_json",
    "read_records",
]


def __getattr__(name: str) -> Any:
    module_name = _WHERE.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
