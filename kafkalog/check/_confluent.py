"""The check's admin and consumer side over confluent-kafka, with the connection settings of the producer config.

librdkafka reports a wrong password through ``error_cb`` while the request that needed the login just waits: the
metadata request is made in short slices, and the first authentication or TLS error ends the wait.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import DeliveryError, Reason
from ..transports.confluent import ClientHealth, error_name, import_client, to_delivery_error
from ._steps import EXIT_TOPIC, CheckFailed

_CONNECTION_PREFIXES = ("security.protocol", "sasl.", "ssl.", "enable.ssl", "socket.", "broker.address.",
                        "client.dns.", "api.version")
_SLICE = 0.5
_AUTO_CREATE = "auto.create.topics.enable"


def _admin_module() -> Any:
    import_client()  # the install hint when confluent-kafka is missing
    import confluent_kafka.admin

    return confluent_kafka.admin


def connection_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """librdkafka options of a producer config that say how to reach and log in to the cluster."""
    conf = {k: v for k, v in settings.items() if k.startswith(_CONNECTION_PREFIXES)}
    servers = settings.get("bootstrap_servers", ())
    conf["bootstrap.servers"] = servers if isinstance(servers, str) else ",".join(servers)
    conf["client.id"] = "kafkalog-check"
    return conf


class ConfluentProbe:
    """Admin and consumer clients over confluent-kafka for :func:`kafkalog.check.run_check`."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        _admin_module()  # imported before the connect step's time is counted (see KafkaPythonProbe)
        self._conf = connection_settings(settings)
        self._health = ClientHealth()
        self._admin: Any = None
        self._auth_error: DeliveryError | None = None

    def _on_error(self, err: Any) -> None:
        self._health.on_error(err)
        if error_name(err) == "_SSL":
            self._auth_error = DeliveryError(Reason.TLS_ERROR, f"TLS handshake failed (check ssl.ca.location and "
                                                               f"the broker certificate): {err}", retriable=False)
        elif self._health.blocking is not None and self._health.blocking.reason == Reason.AUTH_FAILED:
            self._auth_error = self._health.blocking

    def _client_conf(self) -> dict[str, Any]:
        return {**self._conf, "logger": self._health, "error_cb": self._on_error}

    def _metadata(self, timeout: float) -> Any:
        """Cluster metadata (all topics; asking for one topic could make the broker create it)."""
        deadline = time.monotonic() + timeout
        while True:
            if self._auth_error is not None:
                raise self._auth_error
            left = deadline - time.monotonic()
            try:
                return self._admin.list_topics(timeout=max(0.05, min(_SLICE, left)))
            except Exception as exc:
                self._admin.poll(0)  # error_cb runs only in poll()
                if self._auth_error is not None:
                    raise self._auth_error from None
                if left <= _SLICE:
                    error = to_delivery_error(exc)
                    last = self._health.last_error or self._health.last_log
                    raise DeliveryError(error.reason, f"{error}; last client error: {last}" if last else str(error),
                                        retriable=error.retriable) from None

    def connect(self, timeout: float) -> str:
        self._admin = _admin_module().AdminClient(self._client_conf())
        metadata = self._metadata(timeout)
        return f"cluster {metadata.cluster_id}, {len(metadata.brokers)} broker(s)"

    def partitions(self, topic: str, timeout: float) -> Sequence[int] | None:
        info = self._metadata(timeout).topics.get(topic)
        if info is None:
            return None
        if info.error is not None:
            name = error_name(info.error)
            if name == "UNKNOWN_TOPIC_OR_PART":
                return None
            raise CheckFailed(f"metadata error for {topic!r}: {name}", EXIT_TOPIC)
        return sorted(int(p) for p in info.partitions)

    def auto_create(self, timeout: float) -> bool | None:
        admin = _admin_module()
        try:
            node = next(iter(self._metadata(timeout).brokers))
            resource = admin.ConfigResource(admin.ResourceType.BROKER, str(node))
            futures = self._admin.describe_configs([resource], request_timeout=max(0.1, timeout))
            entries = next(iter(futures.values())).result(timeout=max(0.1, timeout))
            entry = entries.get(_AUTO_CREATE)
        except Exception:  # not authorized to read broker configs: the producer will tell
            return None
        return None if entry is None or entry.value is None else str(entry.value).lower() == "true"

    def _consumer(self) -> Any:
        client = import_client()
        return client.Consumer({**self._client_conf(), "group.id": "kafkalog-check", "enable.auto.commit": False,
                                "enable.partition.eof": False, "fetch.wait.max.ms": 100})

    def end_offsets(self, topic: str, partitions: Sequence[int], timeout: float) -> dict[int, int]:
        client = import_client()
        consumer = self._consumer()
        try:
            return {p: int(consumer.get_watermark_offsets(client.TopicPartition(topic, p), timeout=timeout)[1])
                    for p in partitions}
        except Exception as exc:
            raise to_delivery_error(exc) from None
        finally:
            consumer.close()

    def find(self, topic: str, start: dict[int, int], marker: bytes, timeout: float) -> tuple[int, int] | None:
        client = import_client()
        deadline = time.monotonic() + timeout
        partitions = self.partitions(topic, timeout) or []
        consumer = self._consumer()
        try:
            consumer.assign([client.TopicPartition(topic, p, start.get(p, client.OFFSET_BEGINNING))
                             for p in partitions])
            while (left := deadline - time.monotonic()) > 0:
                message = consumer.poll(min(left, _SLICE))
                if message is None or message.error() is not None:
                    continue
                value = message.value()
                if value is not None and marker in value:
                    return int(message.partition()), int(message.offset())
        finally:
            consumer.close()
        return None

    def close(self) -> None:
        self._admin = None  # librdkafka's admin handle is released with its last reference
