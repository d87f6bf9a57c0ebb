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
    pending_since: float = 0.0
    last_drop_at: float | None = None
    # safety valves (docs/safety.md): records redacted, values redaction could not read, records held back
    redacted: int = 0
    redact_errors: int = 0
    suppressed: int = 0
    rate_limit_overflow: int = 0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def pending(self) -> int:
        return self.queue_depth + self.in_flight + self.spool_pending

    @property
    def healthy(self) -> bool:
        """For a readiness probe: open, no record dropped in the last STALL_SECONDS, and either nothing pending
        or a delivery within STALL_SECONDS (of the last one, or of when records started waiting).

        A broker that vanishes mid-stream can leave sends hanging without an error for a while; a stall of
        pending records catches that before any error is reported.
        """
        now = time.time()
        if self.closed or (self.last_drop_at is not None and now - self.last_drop_at < STALL_SECONDS):
            return False
        if self.pending == 0:
            return True
        last_progress = max(self.last_delivery_at or 0.0, self.pending_since)
        if not self.connected and self.last_error_at is not None and self.last_error_at >= last_progress:
            return False  # failing right now (e.g. cannot connect), not merely slow
        return now - last_progress < STALL_SECONDS


class Counters:
    """Mutable counts; each is written under the worker's lock or by the worker thread alone."""

    __slots__ = (
        "delivered",
        "dropped",
        "enqueued",
        "failed",
        "last_delivery_at",
        "last_drop_at",
        "replayed",
        "retried",
        "seen",
        "settled",
        "spooled",
        "truncated",
    )

    def __init__(self) -> None:
        self.seen = 0
        self.enqueued = 0
        self.settled = 0  # of the enqueued: delivered or dropped since (what flush() waits for)
        self.delivered = 0
        self.failed = 0
        self.retried = 0
        self.truncated = 0
        self.spooled = 0
        self.replayed = 0
        self.last_drop_at: float | None = None
        self.dropped: Counter[str] = Counter()
        self.last_delivery_at: float | None = None
