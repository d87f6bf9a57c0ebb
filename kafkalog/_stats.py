"""Counters kept by the worker and the snapshot users read with ``stats()``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Stats:
    """A point-in-time view of one handler's or sink's shipping.

    Every record handed to the handler (``seen``) is in exactly one of ``delivered``, ``dropped`` (by reason)
    or ``pending`` (``queue_depth + in_flight``): ``seen == delivered + dropped_total + pending``.
    """

    seen: int
    enqueued: int
    delivered: int
    failed: int
    retried: int
    truncated: int
    dropped: Mapping[str, int]
    queue_depth: int
    queue_bytes: int
    in_flight: int
    last_error: str | None
    last_error_at: float | None
    last_delivery_at: float | None
    connected: bool
    worker_alive: bool
    closed: bool
    pid: int
    spooled: int = 0
    replayed: int = 0
    spool_pending: int = 0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def pending(self) -> int:
        return self.queue_depth + self.in_flight + self.spool_pending

    @property
    def healthy(self) -> bool:
        """True while open and connected, or idle with nothing pending; use it for a readiness check."""
        return not self.closed and (self.connected or self.pending == 0)


class Counters:
    """Mutable counts; each is written under the worker's lock or by the worker thread alone."""

    __slots__ = ("delivered", "dropped", "enqueued", "failed", "last_delivery_at", "replayed", "retried", "seen",
                 "spooled", "truncated")

    def __init__(self) -> None:
        self.seen = 0
        self.enqueued = 0
        self.delivered = 0
        self.failed = 0
        self.retried = 0
        self.truncated = 0
        self.spooled = 0
        self.replayed = 0
        self.dropped: Counter[str] = Counter()
        self.last_delivery_at: float | None = None
