"""Counters kept by the worker and the snapshot users read with ``stats()``."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

STALL_SECONDS = 10.0
"""Records pending with no delivery for this long make ``Stats.healthy`` false."""


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
    started_at: float = 0.0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def pending(self) -> int:
        return self.queue_depth + self.in_flight + self.spool_pending

    @property
    def healthy(self) -> bool:
        """For a readiness probe: open, and either nothing pending or deliveries made in the last STALL_SECONDS.

        A broker that vanishes mid-stream can leave sends hanging without an error for a while; a stall of
        pending records catches that before any error is reported.
        """
        if self.closed:
            return False
        if self.pending == 0:
            return True
        last_progress = self.last_delivery_at if self.last_delivery_at is not None else self.started_at
        return self.connected and time.time() - last_progress < STALL_SECONDS


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
