"""An on-disk, append-only spool: records the broker could not take yet survive a restart or a crash.

Files and locks (segment files, offset files, who holds which ``flock``) are described in
:mod:`kafkalog._spool_dir`, which also holds the directory side of :class:`DiskSpool`.

Ordering: only the lowest remaining segment of each writer may be claimed, and a segment is deleted only once
fully committed, so one writer's records are replayed in order even when several processes replay. Between
writers, the oldest segment goes first by the creation time kept in its header (strictly increasing per writer;
ties by name): different writers interleave at segment granularity, roughly in time order.

Delivery is at-least-once: :meth:`DiskSpool.read` peeks, :meth:`DiskSpool.commit` persists the offset, and a crash
in between re-delivers that batch on restart.

Threads and fork: a DiskSpool is not thread-safe; the worker creates it on its own thread, one per process, so
no handle should cross a fork. If one does, the child notices (the pid changed, or the at-fork hook ran): it
closes the descriptors it inherited without unlocking them (the parent's locks stay the parent's) and starts
segments of its own under its own pid. POSIX only (``fcntl``).
"""

from __future__ import annotations

import bisect
import os
import time
import weakref
from collections.abc import Sequence
from typing import Literal, NamedTuple

from ..typing import Message
from ._directory import SegmentIndex, create_segment_file
from ._format import (
    FILE_HEADER,
    Segment,
    close_quietly,
    encode_frame,
    write_all,
    write_pos,
)

FullPolicy = Literal["drop_newest", "drop_oldest", "block"]
_LINK_CHECK_INTERVAL = 1.0  # seconds between checks that nobody deleted the segment being appended to


class SpoolAppend(NamedTuple):
    """What :meth:`DiskSpool.append` did with the records it was given: each is stored or dropped; ``full`` of the
    dropped were refused because the spool was at ``max_bytes`` (the rest: a disk error, or not framable);
    ``failed`` of them were lost to a disk error or a closed spool (a writer that can try again may want to)."""

    stored: int
    dropped: int
    full: int = 0
    failed: int = 0


class SpoolBatch:
    """Records returned by :meth:`DiskSpool.read`; hand it back to :meth:`DiskSpool.commit` once delivered."""

    __slots__ = ("_ends", "_segment", "foreign", "messages")

    def __init__(self, messages: list[Message], segment: Segment, ends: list[int], foreign: bool = False) -> None:
        self.messages = messages
        self._segment = segment
        self._ends = ends
        self.foreign = foreign  # written by another process or an earlier spool: a replay

    def __len__(self) -> int:
        return len(self.messages)

    def __repr__(self) -> str:
        return f"SpoolBatch({len(self.messages)} record(s) from {self._segment.name})"


class DiskSpool:
    """Segment files in one directory, shared safely by any number of processes (see the module docstring).

    It appends, reads back and commits records; which segments exist and who holds them is its
    :class:`~kafkalog.spool._directory.SegmentIndex`'s business.
    ``corrupt_skipped`` counts records lost to a torn tail or a corrupt frame: the bad frame itself plus the
    frames with a valid CRC found after it (the rest of a segment after a bad frame is skipped, not trusted).
    ``dropped_full`` counts records refused (``drop_newest``; ``block`` too, as a last resort: its writers wait
    for room before appending) or deleted unread (``drop_oldest``) because the
    directory held ``max_bytes``. ``last_error`` is the text of the latest disk error or corruption found.
    """

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int = 256 * 1024 * 1024,
                 segment_bytes: int = 16 * 1024 * 1024, full_policy: FullPolicy = "drop_oldest",
                 fsync: bool = False, rescan_interval: float = 1.0) -> None:
        """Create ``directory``. The options are trusted: :class:`~kafkalog.KafkaLogConfig` checked them.

        Raises OSError only here, when the directory cannot be created, so the caller can go on without a spool;
        afterwards no method raises on disk errors. ``rescan_interval`` is how often (seconds) ``read`` looks for
        segments other processes left or released.
        """
        self.segment_bytes = segment_bytes
        self.max_bytes = max_bytes
        self.full_policy: FullPolicy = full_policy
        self.fsync = fsync
        self.directory = os.path.abspath(os.fspath(directory))
        os.makedirs(self.directory, exist_ok=True)
        if not os.path.isdir(self.directory):
            raise NotADirectoryError(f"spool_dir: {self.directory!r} is not a directory")
        self._closed = False
        self._topics: dict[str, bytes] = {}
        self._index = SegmentIndex(self.directory, fsync=fsync, rescan_interval=float(rescan_interval))
        self._new_process_state()
        _live.add(self)
        self._index.scan()

    @property
    def corrupt_skipped(self) -> int:
        return self._index.corrupt_skipped

    @property
    def last_error(self) -> str | None:
        return self._index.last_error

    def _new_process_state(self) -> None:
        """Fresh identity, index and counters: at construction, and in a forked child."""
        self._pid = os.getpid()
        self._index.new_process_state(f"{self._pid:07d}-{time.time_ns():019d}")
        self._seq = 0
        self._last_created = 0
        self._link_checked = float("-inf")  # when the active segment was last seen still linked in the directory
        self.dropped_full = 0

    def reset_after_fork(self) -> None:
        """In a forked child: drop what was inherited (without unlocking it) and become a new writer."""
        for segment in self._index.segments.values():
            close_quietly(segment.fd)  # never LOCK_UN: the lock is shared with the parent's descriptor
            segment.fd = None
        self._new_process_state()

    def _check_pid(self) -> None:
        if self._pid != os.getpid():
            self.reset_after_fork()

    # --- writing --------------------------------------------------------------------------------------------

    def append(self, messages: Sequence[Message]) -> SpoolAppend:
        """Store records at the end of the spool; those not stored (full, disk error, unframeable) are counted."""
        self._check_pid()
        total = len(messages)
        if self._closed or not total:
            return SpoolAppend(0, total, failed=total)
        stored = dropped = full = 0
        parts: list[bytes] = []
        pending_bytes = pending_count = 0
        try:
            active = self._writable_active()
            disk = self._index.disk_bytes()
            rescanned = False
            for message in messages:
                mark = len(parts)
                try:
                    size = encode_frame(message, self._topics, parts)
                except (ValueError, TypeError) as exc:
                    del parts[mark:]
                    dropped += 1
                    self._index.last_error = f"spool append: record not stored: {exc}"
                    continue
                if active.size + pending_bytes + size > self.segment_bytes and \
                        active.size + pending_bytes > FILE_HEADER.size:
                    frame = parts[mark:]
                    del parts[mark:]
                    self._write(active, parts, pending_count, pending_bytes)
                    stored += pending_count
                    parts, pending_bytes, pending_count = frame, 0, 0
                    mark = 0
                    active = self._rotate()
                    disk += FILE_HEADER.size
                if disk + size > self.max_bytes:
                    if not rescanned and time.monotonic() - self._index.last_scan >= self._index.rescan_interval:
                        rescanned = True
                        self._index.scan()  # other processes may have consumed their share since the last look
                        disk = self._index.disk_bytes() + pending_bytes
                    if disk + size > self.max_bytes and self.full_policy == "drop_oldest":
                        self._evict(self.max_bytes - size - pending_bytes)
                        disk = self._index.disk_bytes() + pending_bytes
                    if disk + size > self.max_bytes:
                        del parts[mark:]
                        dropped += 1
                        full += 1
                        self.dropped_full += 1
                        continue
                pending_bytes += size
                pending_count += 1
                disk += size
            if parts:
                self._write(active, parts, pending_count, pending_bytes)
                stored += pending_count
        except OSError as exc:
            self._index.error("append", exc)
            # whatever was not written yet is lost
            return SpoolAppend(stored, total - stored, full, failed=total - stored - dropped)
        return SpoolAppend(stored, dropped, full)

    def _writable_active(self) -> Segment:
        active = self._index.active
        now = time.monotonic()
        if active is not None and active.fd is not None and now - self._link_checked >= _LINK_CHECK_INTERVAL:
            self._link_checked = now
            if os.fstat(active.fd).st_nlink == 0:
                self._index.last_error = (f"spool append: segment {active.name} was deleted by someone else; "
                                   "its records are lost")
                self._index.forget(active)
                active = self._index.active = None
        if active is None:
            active = self._index.active = self._create_segment()
        return active

    def _create_segment(self) -> Segment:
        for _ in range(3):
            seq = self._seq + 1
            created = max(time.time_ns(), self._last_created + 1)
            name = f"{self._index.writer}-{seq:08d}.seg"
            path = os.path.join(self.directory, name)
            try:
                fd = create_segment_file(path, created, fsync=self.fsync)
            except FileExistsError:  # another spool of this process started in the same ns: take a new name
                self._index.writer = f"{self._pid:07d}-{max(time.time_ns(), created + 1):019d}"
                self._seq = 0
                continue
            self._seq, self._last_created = seq, created
            segment = Segment(name, path, self._index.writer, seq, created, fd=fd, active=True)
            self._index.segments[name] = segment
            return segment
        raise FileExistsError(f"no free segment name in {self.directory}")

    def _write(self, segment: Segment, parts: list[bytes], count: int, size: int) -> None:
        """One write per batch; on failure cut the file back so no torn record sits before later ones."""
        fd = segment.fd
        if fd is None:
            raise OSError(f"segment {segment.name} is not open")
        try:
            write_all(fd, b"".join(parts))
            if self.fsync:
                os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, segment.size)
            except OSError:
                self._index.retire(segment)  # cannot cut the torn tail: stop appending after it
            raise
        segment.size += size
        segment.end = segment.size
        if segment.records is not None:
            segment.records += count

    def _rotate(self) -> Segment:
        if self._index.active is not None:
            self._index.retire(self._index.active)
        return self._writable_active()

    def _evict(self, limit: int) -> None:
        """``drop_oldest``: delete the oldest whole segments (never the active one) until at most ``limit`` bytes."""
        for segment in sorted(self._index.segments.values(), key=lambda s: s.order):
            if self._index.disk_bytes() <= limit:
                return
            if segment.active:
                continue
            if segment.fd is None:
                try:
                    if not self._index.claim(segment):
                        continue
                except OSError as exc:
                    self._index.error("evict", exc)
                    continue
            self.dropped_full += segment.records or 0
            self._index.finish(segment)

    # --- reading --------------------------------------------------------------------------------------------

    def read(self, max_records: int) -> SpoolBatch | None:
        """Up to ``max_records`` of the oldest uncommitted records (all from one segment); None when none.

        Reading does not consume: until :meth:`commit`, the same records are returned again.
        """
        self._check_pid()
        if self._closed or max_records <= 0:
            return None
        try:
            while True:
                segment = self._index.select()
                if segment is None or segment.fd is None:
                    return None
                result = self._index.reader.read(segment, segment.fd, segment.pos, segment.end, max_records)
                if result.bad_at is not None:
                    self._index.mark_bad(segment, result.bad_at, result.reason, len(result.messages))
                if result.messages:
                    return SpoolBatch(result.messages, segment, result.ends, segment.writer != self._index.writer)
                if not segment.bad:
                    return None
        except OSError as exc:
            self._index.error("read", exc)
            return None

    def commit(self, batch: SpoolBatch) -> None:
        """Those records were delivered: persist the offset after them, delete the segment once fully consumed.

        Committing a batch also commits any records before it; a stale batch (already committed, or from a
        segment dropped since) is ignored.
        """
        self._check_pid()
        segment = batch._segment
        if self._closed or self._index.segments.get(segment.name) is not segment or segment.fd is None:
            return
        ends = batch._ends
        if not ends or ends[-1] <= segment.pos:
            return
        done = len(ends) - bisect.bisect_right(ends, segment.pos)
        segment.pos = ends[-1]
        if segment.records is not None:
            segment.records = max(0, segment.records - done)
        try:
            if not segment.active and segment.pos >= segment.end:
                self._index.finish(segment)
            else:
                segment.pos_generation += 1
                write_pos(segment.path, segment.pos, segment.pos_generation, fsync=self.fsync)
        except OSError as exc:
            self._index.error("commit", exc)

    # --- counters and lifecycle -----------------------------------------------------------------------------

    def pending_records(self) -> int:
        """Uncommitted records this spool has counted: its own segments and the ones it claimed.

        Segments of other processes are counted once claimed (until then they show only in pending_bytes).
        """
        self._check_pid()
        return sum(segment.records or 0 for segment in self._index.segments.values())

    def pending_bytes(self) -> int:
        """Uncommitted framed bytes in the directory, as of this spool's last look at segments it does not hold."""
        self._check_pid()
        return sum(max(0, segment.end - segment.pos) for segment in self._index.segments.values())

    def disk_bytes(self) -> int:
        """Bytes the directory's segment files take, as ``max_bytes`` counts them (read and unread)."""
        self._check_pid()
        return self._index.disk_bytes()

    def close(self) -> None:
        """Release every lock and descriptor; what is left stays on disk for the next spool. Idempotent."""
        self._check_pid()
        if self._closed:
            return
        self._closed = True
        _live.discard(self)
        for segment in self._index.segments.values():
            close_quietly(segment.fd)
            segment.fd = None
        self._index.active = self._index.current = None
        self._index.reader.forget()

    def __enter__(self) -> DiskSpool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


_live: weakref.WeakSet[DiskSpool] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # Close inherited descriptors at once, so a child that never touches the spool does not keep the parent's
    # segments locked after the parent exits.
    for spool in list(_live):
        spool.reset_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
