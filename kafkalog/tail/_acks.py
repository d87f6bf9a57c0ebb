"""Which offsets may be saved: past what the shipper has settled (no spool), or at once (the spool has it).

Without the spool the files are the buffer: each put gets a ticket (the shipper's count of records put so far),
kept with the file's offset after it; once the shipper says that many records are settled (delivered, or
dropped and counted), oldest first, the file's saved offset moves there. A file whose content starts over
(truncation, a copy taking over) moves to a new epoch, and tickets of the old one no longer move it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import MutableMapping

from .._worker import Worker
from ._follow import Follower
from ._identity import FileKey
from ._offsets import Offset


class Acks:
    """The agent's tickets, oldest first: (ticket, follower, epoch, offset, line)."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.waiting: deque[tuple[int, Follower, int, int, int]] = deque()

    def handed(self, follower: Follower) -> None:
        """The shipper took what ``follower`` read up to its offset: with the spool it is on disk and may be saved
        now; without, once the shipper has settled it (:meth:`apply`)."""
        ticket = self.worker.buffer.ticket()
        if ticket is None:
            follower.acknowledge(follower.offset, follower.line)
        else:
            self.waiting.append((ticket, follower, follower.epoch, follower.offset, follower.line))

    def apply(self, followers: MutableMapping[FileKey, Follower], saved: MutableMapping[FileKey, Offset]) -> None:
        """Move each file's saved position past what the shipper has settled; a file let go meanwhile (in
        ``saved``, not in ``followers``) gets its kept offset moved."""
        waiting = self.waiting
        if not waiting:
            return
        acked = self.worker.buffer.acked()
        while waiting and waiting[0][0] <= acked:
            _, follower, epoch, offset, line = waiting.popleft()
            if epoch != follower.epoch:
                continue
            follower.acknowledge(offset, line)
            if followers.get(follower.key) is not follower and follower.key in saved:
                saved[follower.key] = follower.saved(time.time())
