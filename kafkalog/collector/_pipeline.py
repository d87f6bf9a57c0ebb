"""The collector's one use of the shipping pipeline: a :class:`~kafkalog._worker.Worker` with its transport (and
spool) that every client's records go into. Kept to this module so that changes to the worker's queues touch the
collector in one place.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .._stats import Stats
from .._worker import CloseReport, Worker
from ..buffers import charge_all
from ..config import KafkaLogConfig
from ..typing import Message
from . import _framing as wire
from ._share import FairShare


class Pipeline:
    """Takes whole batches or none: a batch that does not fit the queue right now is refused as busy (the client
    keeps it and sends it again), so the collector never drops what it could have refused. With a spool
    (``spool_full_policy="block"``), a batch is on disk when :meth:`offer` returns; while the spool is full it
    waits for room, and the client's acknowledgement with it. Without a spool, each client gets a fair share of
    the queue (:mod:`~kafkalog.collector._share`)."""

    def __init__(self, config: KafkaLogConfig, *, worker: Worker | None = None) -> None:
        """``worker``: ship through this one (a handler's, in pre-fork parent mode) instead of a new one."""
        self.config = config
        self.worker = worker if worker is not None else Worker(config, "collector")
        self.durable = config.spool_dir is not None
        self.share: FairShare | None = None if self.durable else FairShare(config.queue_max_records,
                                                                            config.queue_max_bytes)

    def offer(self, messages: list[Message], owner: bytes = b"") -> tuple[int, str]:
        """(status, reason) for a batch of client session ``owner``: ACCEPTED once in the queue (or written to the
        spool), BUSY when it does not fit right now, is over the client's share, or the collector is closing."""
        config = self.config
        stats = self.worker.stats()
        if stats.closed:
            return wire.BUSY, "closing"
        share = self.share
        size = 0
        if share is not None:
            size = charge_all(messages)
            if (stats.queue_depth + len(messages) > config.queue_max_records
                    or stats.queue_bytes + size > config.queue_max_bytes):
                return wire.BUSY, "queue full"
            share.release(stats.enqueued - stats.queue_depth)
            refusal = share.refusal(owner, len(messages), size, stats.queue_depth, stats.queue_bytes)
            if refusal:
                return wire.BUSY, refusal
        done = self.worker.put_many(messages)
        if done < len(messages):  # closing between the check and the put: those records were counted "closed"
            return wire.BUSY, "closing"
        if share is not None:
            share.taken(owner, stats.enqueued + done, done, size)
        return wire.ACCEPTED, ""

    def stats(self) -> Stats:
        return self.worker.stats()

    def stats_dict(self) -> dict[str, Any]:
        stats = self.worker.stats()
        shown = asdict(stats)
        shown["dropped"] = dict(stats.dropped)
        shown["healthy"] = stats.healthy
        shown["pending"] = stats.pending
        return shown

    def flush(self, timeout: float) -> bool:
        return self.worker.flush(timeout)

    def close(self, timeout: float) -> CloseReport:
        return self.worker.close(timeout)
