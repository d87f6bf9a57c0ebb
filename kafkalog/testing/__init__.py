"""Test helpers: a local Apache Kafka broker started from Maven Central jars (see :mod:`.broker`).

Names are imported lazily so ``python -m kafkalog.testing.broker`` does not import its own module twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kafkalog.testing.broker import (
        DEFAULT_KAFKA_VERSION,
        BrokerStartError,
        JarFetchError,
        KafkaBrokerError,
        LocalKafka,
        MissingToolError,
        create_topic,
        fetch_kafka_jars,
        new_cluster_id,
    )

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "BrokerStartError",
    "JarFetchError",
    "KafkaBrokerError",
    "LocalKafka",
    "MissingToolError",
    "create_topic",
    "fetch_kafka_jars",
    "new_cluster_id",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from kafkalog.testing import broker

        value = getattr(broker, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
