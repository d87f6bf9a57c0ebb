"""The kafka-python reader (the default client): manual assignment of every partition, no group membership.

A ``--group`` is used only to remember positions (fetch and commit offsets); the reader never joins it, so it
never waits for a rebalance, and a commit for a group that other consumers are members of is refused by the broker.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from .._suggest import suggest
from .reader import ConsumeError, Message, ReaderSettings, client_errors

DEFAULTS: dict[str, Any] = {
    "fetch_max_wait_ms": 200,  # how soon --follow shows a new record
    "max_poll_records": 10_000,
    "fetch_max_bytes": 64 * 1024 * 1024,
    # kafka-python fetches a partition again only once its records are all handed out, so each refill is a wait;
    # 1 MiB fetches keep that wait short (a bulk read measured 10-15% faster than with 8 MiB ones)
    "max_partition_fetch_bytes": 1024 * 1024,
    "bootstrap_timeout_ms": 10_000,
    "request_timeout_ms": 30_000,
    "reconnect_backoff_max_ms": 5_000,
    "client_id": "kafkalog-consume",
}
OWNED = ("bootstrap_servers", "group_id", "enable_auto_commit", "key_deserializer", "value_deserializer",
         "allow_auto_create_topics")


def check_names(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConsumeError` for an option kafka-python does not know, with the closest one it does."""
    from kafka import KafkaConsumer

    unknown = sorted(set(config) - set(KafkaConsumer.DEFAULT_CONFIG))
    if unknown:
        raise ConsumeError(f"consumer config: unknown kafka-python option(s) {unknown}"
                           f"{suggest(unknown[0], KafkaConsumer.DEFAULT_CONFIG)}")


class KafkaPythonReader:
    def __init__(self, settings: ReaderSettings) -> None:
        self._settings = settings
        settings.refuse(OWNED)
        bootstrap_ms = min(int(DEFAULTS["bootstrap_timeout_ms"]), max(1000, int(settings.timeout * 1000)))
        config = {**DEFAULTS, "bootstrap_timeout_ms": bootstrap_ms, **settings.client_config,
                  "bootstrap_servers": settings.bootstrap_servers, "group_id": settings.group,
                  "enable_auto_commit": False, "allow_auto_create_topics": False}
        # kafka-python 3.0.0 refuses any response frame over 1 MB ("Invalid frame length") unless this is raised;
        # later releases raise it to the fetch size themselves
        config.setdefault("receive_message_max_bytes", int(config["fetch_max_bytes"]) + 1024 * 1024)
        with self._errors("connecting to the brokers"):
            from kafka import KafkaConsumer, TopicPartition

            check_names(config)
            self._tp = TopicPartition
            self._consumer = KafkaConsumer(**config)
        self._partitions: dict[int, Any] = {}

    def _errors(self, doing: str) -> AbstractContextManager[None]:
        """Every client error, raised as :class:`ConsumeError` with the secrets taken out."""
        return client_errors(doing, self._settings.secrets)

    def open(self) -> dict[int, int]:
        topic = self._settings.topic
        deadline = time.monotonic() + self._settings.timeout
        with self._errors(f"reading topic {topic!r}"):
            while not (ids := self._consumer.partitions_for_topic(topic)):
                if time.monotonic() >= deadline:
                    raise ConsumeError(f"topic {topic!r} not found (or not authorized) at "
                                       f"{self._settings.bootstrap_servers}")
                time.sleep(0.2)
            self._partitions = {p: self._tp(topic, p) for p in sorted(ids)}
            tps = list(self._partitions.values())
            self._consumer.assign(tps)
            timeout_ms = int(self._settings.timeout * 1000)
            begin = self._consumer.beginning_offsets(tps, timeout_ms=timeout_ms)
            end = self._consumer.end_offsets(tps, timeout_ms=timeout_ms)
            at_time: dict[Any, Any] = {}
            start = self._settings.start
            if start.kind == "time":
                at_time = self._consumer.offsets_for_times(dict.fromkeys(tps, start.value), timeout_ms=timeout_ms)
            for tp in tps:
                committed = (self._consumer.committed(tp, timeout_ms=timeout_ms)
                             if self._settings.group is not None else None)
                found = at_time.get(tp)
                low, high = int(begin[tp]), int(end[tp])
                offset = (min(max(committed, low), high) if committed is not None
                          else start.resolve(low, high, None if found is None else int(found.offset)))
                self._consumer.seek(tp, offset)
            return {tp.partition: int(end[tp]) for tp in tps}

    def poll(self, timeout: float) -> Sequence[Message]:
        with self._errors("reading"):
            batches = self._consumer.poll(timeout_ms=max(1, int(timeout * 1000)))
        if not batches:
            return []
        out: list[Message] = []
        for records in batches.values():
            out.extend(Message(r.partition, r.offset, r.timestamp, r.key, r.value) for r in records)
        return out

    def position(self, partition: int) -> int:
        with self._errors("reading the position"):
            return int(self._consumer.position(self._partitions[partition]))

    def commit(self, offsets: Mapping[int, int]) -> None:
        if not offsets:
            return
        from kafka.structs import OffsetAndMetadata

        with self._errors(f"committing offsets for group {self._settings.group!r}"):
            self._consumer.commit(
                {self._partitions[p]: OffsetAndMetadata(o, "", -1) for p, o in offsets.items()},
                timeout_ms=int(self._settings.timeout * 1000))

    def close(self) -> None:
        try:
            self._consumer.close(autocommit=False)
        except Exception:
            pass  # closing after an error: nothing left to save
