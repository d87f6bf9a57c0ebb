"""Talking to a running broker with kafka-python's admin client: readiness, topics, partition leaders.

kafka-python is imported inside the functions that need it, so importing this module stays cheap.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ._errors import KafkaBrokerError


def admin_client(bootstrap: str, timeout_s: float, **client_config: Any) -> Any:
    """A ``KafkaAdminClient``; ``client_config`` adds kafka-python options (e.g. SASL settings)."""
    from kafka import KafkaAdminClient

    timeout_ms = max(1000, int(timeout_s * 1000))
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="kafkalog-testing",
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=min(timeout_ms, 30000),
        **client_config,
    )


def probe_broker(bootstrap: str, timeout_s: float, brokers: int = 1) -> str | None:
    """Ask for cluster metadata; None once ``brokers`` unfenced brokers and a controller show, else why not."""
    try:
        admin = admin_client(bootstrap, timeout_s)
    except Exception as exc:  # any failure just means "not ready yet"
        return f"admin client could not bootstrap: {exc!r}"
    try:
        cluster = admin.describe_cluster()
    except Exception as exc:
        return f"describe_cluster failed: {exc!r}"
    finally:
        admin.close()
    seen = cluster.get("brokers") or []
    unfenced = [b for b in seen if not b.get("is_fenced", False)]
    if len(unfenced) < brokers:
        return f"{len(unfenced)} of {brokers} brokers unfenced in metadata: {seen!r}"
    controller = cluster.get("controller_id")
    if controller is None or controller < 0:
        return "no active controller yet"
    return None


def topic_not_ready(info: Mapping[str, Any] | None, partitions: int, in_sync: int = 1) -> str | None:
    """Why a topic (an entry of ``describe_topics``) is not usable yet, or None once every partition has a leader
    and at least ``in_sync`` replicas in sync."""
    if info is None:
        return "missing from metadata"
    if info.get("error_code", 0):
        return f"error code {info['error_code']}"
    parts = info.get("partitions") or []
    if len(parts) < partitions:
        return f"{len(parts)} of {partitions} partitions visible"
    for part in parts:
        index = part.get("partition_index", part.get("partition"))
        if part.get("error_code", 0) or part.get("leader_id", part.get("leader", -1)) < 0:
            return f"partition {index} has no leader"
        isr = part.get("isr_nodes", part.get("isr")) or []
        if len(isr) < in_sync:
            return f"partition {index} has {len(isr)} of {in_sync} replicas in sync"
    return None


def describe_partition(bootstrap: str, topic: str, partition: int = 0, timeout: float = 15.0) -> dict[str, Any]:
    """``{"leader": id, "replicas": [...], "isr": [...], "leader_epoch": n}`` of one partition, as metadata says now.

    The leader is -1 while the partition has none. Connection errors (e.g. the node asked was just killed) are
    retried with a new client until ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _describe_partition(bootstrap, topic, partition, max(1.0, deadline - time.monotonic()))
        except KafkaBrokerError:
            raise
        except Exception as exc:
            if time.monotonic() >= deadline:
                raise KafkaBrokerError(f"could not describe {topic!r} within {timeout:.0f}s: {exc!r}") from exc
            time.sleep(0.2)


def _describe_partition(bootstrap: str, topic: str, partition: int, timeout: float) -> dict[str, Any]:
    admin = admin_client(bootstrap, timeout)
    try:
        topics = admin.describe_topics([topic])
    finally:
        admin.close()
    info = next((t for t in topics if t.get("name") == topic), None)
    if info is None or info.get("error_code", 0):
        raise KafkaBrokerError(f"topic {topic!r} not in metadata: {info!r}")
    for part in info.get("partitions") or []:
        if part.get("partition_index", part.get("partition")) == partition:
            return {
                "leader": int(part.get("leader_id", part.get("leader", -1))),
                "replicas": list(part.get("replica_nodes", part.get("replicas")) or []),
                "isr": list(part.get("isr_nodes", part.get("isr")) or []),
                "leader_epoch": int(part.get("leader_epoch", -1)),
            }
    raise KafkaBrokerError(f"topic {topic!r} has no partition {partition}")


def create_topic(
    bootstrap: str,
    name: str,
    *,
    partitions: int = 1,
    replication: int = 1,
    config: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> None:
    """Create a topic and wait until its metadata shows a leader for every partition.

    Waiting matters: CreateTopics returns before the new partitions have leaders, and a producer that races
    ahead gets ``UNKNOWN_TOPIC_OR_PARTITION`` retries that slow tests down or make them flaky. With
    ``replication`` > 1 it also waits until every replica is in sync.
    Works against any broker (the suite's own or ``KAFKALOG_TEST_BOOTSTRAP``). An existing topic raises
    kafka-python's ``TopicAlreadyExistsError``.
    """
    deadline = time.monotonic() + timeout
    admin = admin_client(bootstrap, timeout)
    try:
        admin.create_topics(
            {
                name: {
                    "num_partitions": partitions,
                    "replication_factor": replication,
                    "configs": dict(config or {}),
                }
            },
            timeout_ms=int(timeout * 1000),
        )
        reason: str | None = "not yet queried"
        while True:
            try:
                topics = admin.describe_topics([name])
                info = next((t for t in topics if t.get("name") == name), None)
                reason = topic_not_ready(info, partitions, in_sync=replication)
            except Exception as exc:  # transient metadata errors: keep polling until the deadline
                reason = repr(exc)
            if reason is None:
                return
            if time.monotonic() >= deadline:
                raise KafkaBrokerError(f"topic {name!r} not ready after {timeout:.0f}s: {reason}")
            time.sleep(0.05)
    finally:
        admin.close()
