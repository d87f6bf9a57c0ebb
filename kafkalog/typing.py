"""Protocols and aliases shared by the library's modules.

The worker knows transports only through :class:`Transport`; nothing here imports a Kafka client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

Event = dict[str, Any]
"""One log record as a JSON-ready dict (the public record contract)."""

TopicChooser = Callable[[Event], str]
KeyChooser = Callable[[Event], "str | bytes | None"]
ErrorSink = Callable[[str], None]


class Message(NamedTuple):
    """One encoded record, immutable once queued. ``headers``: Kafka record headers, ``None`` when there are none."""

    topic: str
    key: bytes | None
    value: bytes
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] | None = None


@runtime_checkable
class Transport(Protocol):
    """What the background worker needs from a Kafka client.

    Every method runs on the worker thread only. ``open`` may block (it connects); ``send`` blocks at most
    ``timeout`` seconds and reports one outcome per message, in order: ``None`` for delivered, or a
    :class:`kafkalog.errors.DeliveryError` saying whether a retry can help. ``close`` never raises and returns
    within ``timeout``.
    """

    def open(self) -> None: ...

    def send(self, messages: Sequence[Message], timeout: float) -> list[BaseException | None]: ...

    def close(self, timeout: float) -> None: ...


TransportFactory = Callable[[Mapping[str, Any]], Transport]
"""Builds a transport from the bootstrap servers and ``producer_config`` (called on the worker thread)."""
