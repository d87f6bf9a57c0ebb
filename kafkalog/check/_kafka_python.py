"""The check's admin and consumer side over kafka-python, with the connection settings of the producer config.

kafka-python reports a wrong password or an untrusted certificate only in its log, then fails with "Unable to
bootstrap": its log is captured as the transport does, and read by the transport's own error mapping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from .._client_noise import (
    ClientLog,
    capture_client_logs,
    capture_new_threads,
    quiet_client_warnings,
    release_client_logs,
)
from ..transports.kafka_python import AUTH_MARKERS, TLS_MARKERS, classify, to_delivery_error
from ._steps import EXIT_ROUND_TRIP, EXIT_TOPIC, CheckFailed

_CONNECTION_PREFIXES = ("security_protocol", "sasl_", "ssl_")
_CONNECTION_OPTIONS = frozenset({"api_version", "client_dns_lookup", "socket_options"})
_UNKNOWN_TOPIC = 3
_AUTO_CREATE = "auto.create.topics.enable"
_TOPIC_ERRORS = {29: "not authorized to describe the topic (TopicAuthorizationFailed)",
                 17: "invalid topic name (InvalidTopicException)"}
_MS = 1000
_BOOTSTRAP_MS = 5000


def connection_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a producer config that say how to reach and log in to the cluster (no producer ones)."""
    return {k: v for k, v in settings.items()
            if k == "bootstrap_servers" or k in _CONNECTION_OPTIONS or k.startswith(_CONNECTION_PREFIXES)}


class KafkaPythonProbe:
    """Admin and consumer clients over kafka-python for :func:`kafkalog.check.run_check`."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        # imported now, before the connect step's time is counted: seconds on a busy machine, which would push
        # the client's own connect failure (with its diagnosis) past the check's deadline
        quiet_client_warnings(("kafka",))
        import kafka.admin  # noqa: F401

        self._settings = connection_settings(settings)
        # the handler's producer gives up bootstrapping after this: so does the check
        self._bootstrap_s = float(settings.get("bootstrap_timeout_ms", _BOOTSTRAP_MS)) / _MS
        self._admin: Any = None
        self._log = ClientLog(AUTH_MARKERS + TLS_MARKERS)
        self._threads: list[int] = []

    @contextmanager
    def _client_errors(self) -> Iterator[None]:
        """kafka-python's errors as ours, told apart by what it logged (credentials, certificates)."""
        try:
            yield
        except CheckFailed:
            raise
        except Exception as exc:
            raise classify(to_delivery_error(exc), self._log,
                           sasl_over_tls=self._settings.get("security_protocol") == "SASL_SSL") from exc

    def _timeouts(self, timeout: float) -> dict[str, int]:
        ms = max(200, int(timeout * _MS))
        return {"bootstrap_timeout_ms": ms, "request_timeout_ms": ms}

    def connect(self, timeout: float) -> str:
        from kafka import KafkaAdminClient

        quiet_client_warnings(("kafka",))
        with self._client_errors(), capture_new_threads("kafka", self._log) as started:
            self._threads = [threading.get_ident()]
            capture_client_logs("kafka", self._threads, self._log)
            timeouts = self._timeouts(min(timeout, self._bootstrap_s))
            self._admin = KafkaAdminClient(client_id="kafkalog-check", **timeouts, **self._settings)
            cluster = self._admin.describe_cluster()
        self._threads += started
        brokers = len(cluster.get("brokers") or [])
        return f"cluster {cluster.get('cluster_id')}, {brokers} broker(s)"

    def partitions(self, topic: str, timeout: float) -> Sequence[int] | None:
        with self._client_errors():
            described = self._admin.describe_topics([topic])
        info: Any = next((t for t in described if t.get("name", t.get("topic")) == topic), None)
        code = int(info.get("error_code", 0)) if info is not None else _UNKNOWN_TOPIC
        if info is None or code == _UNKNOWN_TOPIC:
            return None
        if code:
            raise CheckFailed(_TOPIC_ERRORS.get(code, f"metadata error code {code}"), EXIT_TOPIC)
        return sorted(int(p.get("partition_index", p.get("partition"))) for p in info.get("partitions") or [])

    def auto_create(self, timeout: float) -> bool | None:
        from kafka.admin import ConfigResource, ConfigResourceType

        try:
            cluster = self._admin.describe_cluster()
            brokers: list[Any] = cluster.get("brokers") or []
            node = brokers[0].get("broker_id") if brokers else None
            if node is None:
                return None
            resource = ConfigResource(ConfigResourceType.BROKER, str(node), configs={_AUTO_CREATE: None})
            described = self._admin.describe_configs([resource], config_filter="all")
            entry = described.get("broker", {}).get(str(node), {}).get(_AUTO_CREATE)
        except Exception:  # not authorized to read broker configs, or an old broker: the producer will tell
            return None
        if not isinstance(entry, dict) or entry.get("value") is None:
            return None
        return str(entry["value"]).lower() == "true"

    def _consumer(self, timeout: float) -> Any:
        from kafka import KafkaConsumer

        return KafkaConsumer(client_id="kafkalog-check", group_id=None, enable_auto_commit=False,
                             fetch_max_wait_ms=100, **self._timeouts(timeout), **self._settings)

    def end_offsets(self, topic: str, partitions: Sequence[int], timeout: float) -> dict[int, int]:
        from kafka import TopicPartition

        with self._client_errors():
            consumer = self._consumer(timeout)
            try:
                ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
            finally:
                consumer.close()
        return {tp.partition: int(offset) for tp, offset in ends.items()}

    def find(self, topic: str, start: dict[int, int], marker: bytes, timeout: float) -> tuple[int, int] | None:
        from kafka import TopicPartition

        deadline = time.monotonic() + timeout
        with self._client_errors():
            consumer = self._consumer(timeout)
            try:
                partitions = self.partitions(topic, timeout)
                if not partitions:
                    raise CheckFailed(f"topic {topic!r} is not in the metadata after the write", EXIT_ROUND_TRIP)
                assigned = [TopicPartition(topic, p) for p in partitions]
                consumer.assign(assigned)
                for tp in assigned:
                    consumer.seek(tp, start.get(tp.partition, 0))
                while (left := deadline - time.monotonic()) > 0:
                    for batch in consumer.poll(timeout_ms=max(1, int(min(left, 0.5) * _MS))).values():
                        for record in batch:
                            if record.value is not None and marker in record.value:
                                return int(record.partition), int(record.offset)
            finally:
                consumer.close()
        return None

    def close(self) -> None:
        admin, self._admin = self._admin, None
        try:
            if admin is not None:
                admin.close()
        except Exception:
            pass
        finally:
            release_client_logs(self._threads)
