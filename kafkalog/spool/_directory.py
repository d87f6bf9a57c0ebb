"""The spool directory: its segment files, which of them this spool holds, and how it claims, scans and deletes them.

Kept apart from :mod:`kafkalog.spool`, which holds the append/read/commit policy: here are the helpers that create,
lock, list and clean segment files, and :class:`SegmentIndex`, the base of :class:`~kafkalog.spool.DiskSpool` that
keeps its index of known segments in step with the directory.

Layout of the spool directory (local filesystem: ``flock`` is not trusted over NFS)::

    <pid>-<startns>-<seq>.seg   a segment: appended to by one writer (one DiskSpool in one process), rotated at
                                segment_bytes; <pid>-<startns> names the writer, seq (zero-padded) its segments
    <segment>.pos               the committed read offset: two checksummed slots written alternately, so a crash
                                mid-write leaves the previous offset whole (cheaper than temp file + os.replace)
    <segment>.new               a segment being created; left behind only by a crash, removed by a later scan

Locking: a writer holds an exclusive ``flock`` on the segment it is appending to, and gives it up when it rotates.
A reader claims any other segment (one left by a dead process, a closed spool, or a finished segment of a live
one, its own included) with a non-blocking exclusive ``flock`` on the segment itself and keeps it until the segment
is consumed and deleted (the file is unlinked while still locked; a claimant re-checks after locking that the
path still names the inode it locked). So two processes never replay the same segment at the same time.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import time

from ._format import (
    FILE_HEADER,
    FILE_MAGIC,
    FrameReader,
    Segment,
    close_quietly,
    count_frames,
    count_valid_after,
    fsync_dir,
    peek_created,
    read_created,
    read_pos,
    write_all,
    write_pos,
)

SEGMENT_NAME = re.compile(r"^(\d+-\d+)-(\d+)\.seg$")  # group 1: the writer, group 2: seq
LOCKED, GONE = "locked", "gone"
STALE_NEW_SECONDS = 60.0  # a .new file this old is a crashed creation, not one in progress
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}


def create_segment_file(path: str, created_ns: int, *, fsync: bool) -> int:
    """Create ``path`` already locked and with its header, and return its (read/write, append) fd.

    The file is built under ``<path>.new`` and hard-linked into place, so no other process can ever see (and
    claim, and delete as empty) a segment before its writer holds the lock. FileExistsError means the name is
    taken.
    """
    tmp = path + ".new"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        write_all(fd, FILE_HEADER.pack(FILE_MAGIC, created_ns))
        if fsync:
            os.fsync(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS or os.path.lexists(path):
                raise
            os.rename(tmp, path)  # a filesystem without hard links: the tiny window is accepted there
        else:
            try:
                os.unlink(tmp)
            except OSError:
                pass  # a stray second name for a live segment: harmless, cleaned by a later scan
        if fsync:
            fsync_dir(os.path.dirname(path))
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return fd


def lock_segment(path: str) -> tuple[int, int] | str:
    """Claim ``path`` without waiting: (fd, size) holding its flock, LOCKED if held elsewhere, GONE if deleted.

    Checking the inode after locking catches a segment its previous holder consumed and unlinked meanwhile.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return GONE
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return LOCKED
        st = os.fstat(fd)
        try:
            now: os.stat_result | None = os.stat(path)
        except FileNotFoundError:
            now = None
    except BaseException:
        os.close(fd)
        raise
    if now is None or (now.st_ino, now.st_dev) != (st.st_ino, st.st_dev):
        os.close(fd)
        return GONE
    return fd, st.st_size


def list_directory(directory: str) -> tuple[dict[str, re.Match[str]], list[str]]:
    """The segments in ``directory`` (name -> parsed writer and seq) and its leftover offset/``.new`` files."""
    segments: dict[str, re.Match[str]] = {}
    leftovers: list[str] = []
    for name in os.listdir(directory):
        match = SEGMENT_NAME.match(name)
        if match is not None:
            segments[name] = match
        elif name.endswith((".seg.pos", ".seg.new")):
            leftovers.append(name)
    return segments, leftovers


def remove_leftover(directory: str, name: str) -> None:
    """Remove an offset file whose segment is gone, or an old half-created segment nobody holds."""
    path = os.path.join(directory, name)
    if os.path.lexists(os.path.join(directory, name[:name.index(".seg") + 4])):
        return
    try:
        if not name.endswith(".new"):
            os.unlink(path)
            return
        if time.time() - os.stat(path).st_mtime < STALE_NEW_SECONDS:
            return
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(path)
        finally:
            os.close(fd)
    except OSError:
        pass  # locked, already gone, or not ours to remove: a later scan tries again


class SegmentIndex:
    """The segments a :class:`~kafkalog.spool.DiskSpool` knows about, and the directory work that keeps them true.

    The state is set up by DiskSpool (``__init__`` and ``_new_process_state``); this class only declares it.
    """

    directory: str
    fsync: bool
    rescan_interval: float
    corrupt_skipped: int
    last_error: str | None
    _writer: str
    _segments: dict[str, Segment]
    _active: Segment | None  # the segment this process appends to
    _current: Segment | None  # the segment read() serves from
    _last_scan: float
    _reader: FrameReader

    def _error(self, what: str, exc: OSError) -> None:
        self.last_error = f"spool {what}: {exc}"

    def _retire(self, segment: Segment) -> None:
        """Stop appending to ``segment`` and release it, unless read() is serving from it (then the lock stays)."""
        segment.active = False
        if self._active is segment:
            self._active = None
        if segment is self._current:
            return
        if segment.pos >= segment.end:
            self._finish(segment)  # already consumed: delete it now rather than claim it again later
        elif segment.fd is not None:
            os.close(segment.fd)
            segment.fd = None

    def _disk_bytes(self) -> int:
        return sum(segment.size for segment in self._segments.values())

    def _next_segment(self) -> Segment | None:
        """The oldest segment that may be read now: the lowest of each writer, claimed without waiting."""
        if time.monotonic() - self._last_scan >= self.rescan_interval:
            self._scan()
        skip: set[str] = set()
        while True:
            lowest: dict[str, Segment] = {}
            for segment in self._segments.values():
                best = lowest.get(segment.writer)
                if segment.writer not in skip and (best is None or segment.seq < best.seq):
                    lowest[segment.writer] = segment
            if not lowest:
                return None
            segment = min(lowest.values(), key=lambda s: s.order)
            if segment.active:
                if segment.pos < segment.end:
                    return segment
                skip.add(segment.writer)
                continue
            if segment.fd is None:
                try:
                    claimed = self._claim(segment)
                except OSError as exc:
                    self._error(f"claim {segment.name}", exc)
                    claimed = False
                if not claimed:
                    if segment.name in self._segments:  # held elsewhere: its writer's later segments must wait
                        skip.add(segment.writer)
                    continue
            if segment.pos >= segment.end:
                self._finish(segment)
                continue
            return segment

    def _claim(self, segment: Segment) -> bool:
        """Lock a segment nobody holds, without waiting, and learn its offset and record count.

        False if another process holds it (it stays known) or it is gone (it is forgotten).
        """
        locked = lock_segment(segment.path)
        if locked == GONE:
            self._forget(segment)
        if not isinstance(locked, tuple):
            return False
        fd, size = locked
        known = segment.records if segment.writer == self._writer and segment.size == size else None
        segment.fd = fd
        segment.size = segment.end = size
        if read_created(fd) is None:
            segment.pos = FILE_HEADER.size
            self._mark_bad(segment, 0, "bad segment header", 0, frames=0)
            return True
        saved, segment.pos_generation = read_pos(segment.path) or (FILE_HEADER.size, 0)
        pos = min(max(FILE_HEADER.size, saved), size)
        if known is None or pos != segment.pos:  # not ours, or someone else committed part of it meanwhile
            known = count_frames(fd, pos, size)
        segment.pos = pos
        segment.records = known
        return True

    def _mark_bad(self, segment: Segment, offset: int, reason: str, good: int, frames: int = 1) -> None:
        """A bad frame at ``offset``: nothing after it in this segment is trusted; count what is skipped."""
        if segment.bad:
            return
        segment.bad = True
        segment.end = max(segment.pos, offset)
        segment.records = good
        skipped = frames
        if segment.fd is not None:
            skipped += count_valid_after(segment.fd, offset + 1 if frames else 0, segment.size)
        self.corrupt_skipped += skipped
        self.last_error = f"spool segment {segment.name}: {reason} at offset {offset}; {skipped} record(s) skipped"
        if segment.active:
            self._retire(segment)

    def _finish(self, segment: Segment) -> None:
        """Delete a consumed (or dropped) segment while still holding its lock, then its offset file."""
        try:
            os.unlink(segment.path)
        except FileNotFoundError:
            pass
        except OSError as exc:  # it stays: save how far it was read so that nobody replays it
            self._error(f"delete {segment.name}", exc)
            try:
                segment.pos_generation += 1
                write_pos(segment.path, segment.pos, segment.pos_generation, fsync=self.fsync)
            except OSError:
                pass
            self._forget(segment)
            return
        self._forget(segment)
        try:
            os.unlink(segment.path + ".pos")
        except OSError:
            pass  # an orphan offset file is removed by a later scan

    def _forget(self, segment: Segment) -> None:
        close_quietly(segment.fd)
        segment.fd = None
        if self._segments.get(segment.name) is segment:
            del self._segments[segment.name]
        if self._current is segment:
            self._current = None
            self._reader.forget()
        if self._active is segment:
            self._active = None

    def _scan(self) -> None:
        """Learn about segments other processes wrote or released; forget those consumed elsewhere."""
        self._last_scan = time.monotonic()
        try:
            found, leftovers = list_directory(self.directory)
        except OSError as exc:
            self._error("scan", exc)
            return
        for name, match in found.items():
            segment = self._segments.get(name)
            if segment is not None and (segment.fd is not None or segment.writer == self._writer):
                continue  # ours or held by us: memory is the truth
            path = os.path.join(self.directory, name)
            try:
                if segment is None:
                    created = peek_created(path) or 0  # 0: a bad header sorts first and is dropped when claimed
                    segment = Segment(name, path, match.group(1), int(match.group(2)), created, records=None)
                size = os.stat(path).st_size
                saved = read_pos(path)
            except OSError as exc:
                if not isinstance(exc, FileNotFoundError):
                    self._error(f"scan {name}", exc)
                continue
            self._segments[name] = segment
            segment.size = segment.end = size
            segment.pos = min(max(FILE_HEADER.size, saved[0] if saved else 0), size)
        for segment in list(self._segments.values()):
            if segment.name not in found and segment.fd is None:
                del self._segments[segment.name]
        for name in leftovers:
            remove_leftover(self.directory, name)
