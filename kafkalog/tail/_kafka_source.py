"""Inputs from a compacted Kafka topic (``--config-source kafka://TOPIC/KEY``): no other service to run.

The record with key KEY holds the config file's TOML text. At start the topic is read from its beginning to its
end offsets and the latest value for KEY is used; then the consumer keeps reading, and each new value reloads
the inputs as an edit of the config file would. Partitions are assigned directly (no group) and nothing is
committed: every start reads the topic again, so there is no consumer state to clean up. kafka-python reconnects
by itself when the broker goes away; until then the inputs stay as they were.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from .._client_noise import ClientLog, capture_client_logs, capture_new_threads, release_client_logs
from .._client_options import SECURITY_OPTIONS
from .._route import TOPIC_RULE, is_topic_name
from ..consume.security import security_config
from ._config import TailConfigError, TailSettings, parse_settings

_POLL_MS = 500
_RETRY = 1.0  # seconds to wait after an unexpected error of the client before polling again
_UNSET = object()  # no record for the key read yet


def parse_url(url: str) -> tuple[str, str]:
    """``kafka://TOPIC/KEY`` -> ``(topic, key)``; the key may hold ``/`` and %-escapes."""
    parts = urlsplit(url)
    topic, key = parts.netloc, unquote(parts.path[1:])
    if parts.scheme != "kafka" or parts.query or parts.fragment or not key:
        raise TailConfigError(f"--config-source: expected kafka://TOPIC/KEY, got {url!r}")
    if not is_topic_name(topic):
        raise TailConfigError(f"--config-source {url!r}: {topic!r} is not a valid Kafka topic name ({TOPIC_RULE})")
    return topic, key


def consumer_security(shipper: Mapping[str, Any]) -> dict[str, Any]:
    """kafka-python's names for the security options of a ``[kafkalog]`` table (those the shipper uses)."""
    return security_config("kafka-python", {k: v for k, v in shipper.items() if k in SECURITY_OPTIONS},
                           shipper.get("producer_config") or {})


class KafkaTopicSource:
    """One key of a topic: :meth:`load` checks its latest value, :meth:`watch` calls back on each new one."""

    def __init__(self, url: str, bootstrap_servers: str, shipper: Mapping[str, Any] | None = None,
                 timeout: float = 10.0) -> None:
        self.topic, self.key = parse_url(url)
        self.url = url
        self._settings = {"bootstrap_servers": bootstrap_servers.split(","), **consumer_security(shipper or {})}
        self._key = self.key.encode("utf-8")
        self._timeout = timeout
        self._consumer: Any = None
        self._latest: object = _UNSET  # bytes, or None for a tombstone
        self._log = ClientLog()
        self._threads: list[int] = []
        self._stopped = threading.Event()
        self._watching = False

    def load(self) -> TailSettings:
        """The latest value read (the first call reads the topic to its end): checked, or TailConfigError."""
        if self._consumer is None:
            self._read_to_end()
        value = self._latest
        if value is _UNSET:
            raise TailConfigError(f"{self.url}: no record with key {self.key!r} in topic {self.topic!r}")
        if value is None:
            raise TailConfigError(f"{self.url}: the key's latest record is a tombstone (the key was deleted)")
        try:
            text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
        except UnicodeDecodeError as exc:
            raise TailConfigError(f"{self.url}: the value is not UTF-8 text: {exc}") from None
        return parse_settings(text, self.url)

    def _read_to_end(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        deadline = time.monotonic() + self._timeout
        here = [threading.get_ident()]
        capture_client_logs("kafka", here, self._log)  # the client's complaints go into our error message
        try:
            with capture_new_threads("kafka", self._log) as self._threads:
                self._consumer = KafkaConsumer(
                    client_id="kafkalog-tail-config", group_id=None, enable_auto_commit=False,
                    auto_offset_reset="earliest", bootstrap_timeout_ms=int(self._timeout * 1000),
                    request_timeout_ms=int(self._timeout * 1000) + 1000, **self._settings)
            partitions = [TopicPartition(self.topic, p) for p in sorted(self._consumer.partitions_for_topic(
                self.topic))]
            if not partitions:
                raise TailConfigError(f"{self.url}: topic {self.topic!r} does not exist")
            self._consumer.assign(partitions)
            self._consumer.seek_to_beginning(*partitions)
            ends = self._consumer.end_offsets(partitions, timeout_ms=max(1, int(1000 * (deadline - time.monotonic()))))
            while any(self._consumer.position(tp) < ends[tp] for tp in partitions):
                if time.monotonic() > deadline:
                    raise TailConfigError(f"{self.url}: could not read the topic to its end within "
                                          f"{self._timeout:g} s")
                self._take(self._consumer.poll(timeout_ms=200))
        except TailConfigError:
            raise
        except Exception as exc:  # brokers unreachable, not authorized, a timeout: say which
            text = str(exc) if str(exc).startswith(type(exc).__name__) else f"{type(exc).__name__}: {exc}"
            last = self._log.last
            said = f" (the client said: {last})" if last and last not in text and text not in last else ""
            servers = ",".join(self._settings["bootstrap_servers"])
            raise TailConfigError(f"{self.url}: cannot read the topic from {servers}: {text}{said}") from None
        finally:
            release_client_logs(here)

    def _take(self, batches: Mapping[Any, list[Any]]) -> bool:
        """Keep the latest value for the key from a poll's records; True if there was one."""
        found = False
        for records in batches.values():
            for record in records:
                if record.key == self._key:
                    self._latest, found = record.value, True
        return found

    def watch(self, on_change: Callable[[], None]) -> threading.Thread:
        """Call ``on_change`` after each new record for the key (:meth:`load` gives its value)."""
        thread = threading.Thread(target=self._watch, args=(on_change,), name="kafkalog-tail-kafka-config",
                                  daemon=True)
        self._watching = True
        thread.start()
        return thread

    def _watch(self, on_change: Callable[[], None]) -> None:
        capture_client_logs("kafka", [threading.get_ident()], self._log)
        try:
            while not self._stopped.is_set():
                try:
                    changed = self._take(self._consumer.poll(timeout_ms=_POLL_MS))
                except Exception:  # the client reconnects by itself; keep the inputs and poll again
                    self._stopped.wait(_RETRY)
                    continue
                if changed:
                    on_change()
        finally:
            self._consumer.close()
            release_client_logs([threading.get_ident(), *self._threads])

    def stop(self) -> None:
        self._stopped.set()
        if not self._watching and self._consumer is not None:  # else the watching thread closes it
            self._consumer.close()
