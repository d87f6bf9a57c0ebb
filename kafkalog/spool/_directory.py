"""The spool directory: its segment files, which of them this spool holds, and how it claims, scans and deletes them.

Kept apart from :mod:`kafkalog.spool`, which holds the append/read/commit policy: here are the helpers that create,
lock, list and clean segment files, and :class:`SegmentIndex`, which :class:`~kafkalog.spool.DiskSpool` holds to
keep its knowledge of the segments in step with the directory.

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
    """The segments a :class:`~kafkalog.spool.DiskSpool` knows about, and the directory work that keeps them true:
    which exist, which this process holds (its ``active`` one, the ``current`` one it reads, those it claimed),
    claiming, scanning and deleting them. The spool itself decides what goes in and out.
    """

    def __init__(self, directory: str, *, fsync: bool, rescan_interval: float) -> None:
        self.directory = directory
        self.fsync = fsync
        self.rescan_interval = rescan_interval
        self.reader = FrameReader()
        self.new_process_state("")

    def new_process_state(self, writer: str) -> None:
        """Forget every segment (their descriptors are the caller's to close) and write as ``writer`` from now."""
        self.writer = writer  # "<pid>-<startns>": names this process's segments
        self.segments: dict[str, Segment] = {}
        self.active: Segment | None = None  # the segment this process appends to
        self.current: Segment | None = None  # the segment read() serves from
        self.last_scan = float("-inf")
        self.reader.forget()
        self.corrupt_skipped = 0
        self.last_error: str | None = None

    def error(self, what: str, exc: OSError) -> None:
        self.last_error = f"spool {what}: {exc}"

    def retire(self, segment: Segment) -> None:
        """Stop appending to ``segment`` and release it, unless read() is serving from it (then the lock stays)."""
        segment.active = False
        if self.active is segment:
            self.active = None
        if segment is self.current:
            return
        if segment.pos >= segment.end:
            self.finish(segment)  # already consumed: delete it now rather than claim it again later
        elif segment.fd is not None:
            os.close(segment.fd)
            segment.fd = None

    def disk_bytes(self) -> int:
        return sum(segment.size for segment in self.segments.values())

    def next_segment(self) -> Segment | None:
        """The oldest segment that may be read now: the lowest of each writer, claimed without waiting."""
        if time.monotonic() - self.last_scan >= self.rescan_interval:
            self.scan()
        skip: set[str] = set()
        while True:
            lowest: dict[str, Segment] = {}
            for segment in self.segments.values():
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
                    claimed = self.claim(segment)
                except OSError as exc:
                    self.error(f"claim {segment.name}", exc)
                    claimed = False
                if not claimed:
                    if segment.name in self.segments:  # held elsewhere: its writer's later segments must wait
                        skip.add(segment.writer)
                    continue
            if segment.pos >= segment.end:
                self.finish(segment)
                continue
            return segment

    def select(self) -> Segment | None:
        """The segment to read from: the current one while it has records, else the next (see next_segment)."""
        current = self.current
        if current is not None:
            if self.segments.get(current.name) is current and current.fd is not None and current.pos < current.end:
                return current
            self.current = None
            if self.segments.get(current.name) is current and not current.active:
                self.finish(current)  # consumed, or nothing readable left after a bad frame
        self.current = self.next_segment()
        return self.current

    def claim(self, segment: Segment) -> bool:
        """Lock a segment nobody holds, without waiting, and learn its offset and record count.

        False if another process holds it (it stays known) or it is gone (it is forgotten).
        """
        locked = lock_segment(segment.path)
        if locked == GONE:
            self.forget(segment)
        if not isinstance(locked, tuple):
            return False
        fd, size = locked
        known = segment.records if segment.writer == self.writer and segment.size == size else None
        segment.fd = fd
        segment.size = segment.end = size
        if read_created(fd) is None:
            segment.pos = FILE_HEADER.size
            self.mark_bad(segment, 0, "bad segment header", 0, frames=0)
            return True
        saved, segment.pos_generation = read_pos(segment.path) or (FILE_HEADER.size, 0)
        pos = min(max(FILE_HEADER.size, saved), size)
        if known is None or pos != segment.pos:  # not ours, or someone else committed part of it meanwhile
            known = count_frames(fd, pos, size)
        segment.pos = pos
        segment.records = known
        return True

    def mark_bad(self, segment: Segment, offset: int, reason: str, good: int, frames: int = 1) -> None:
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
            self.retire(segment)

    def finish(self, segment: Segment) -> None:
        """Delete a consumed (or dropped) segment while still holding its lock, then its offset file."""
        try:
            os.unlink(segment.path)
        except FileNotFoundError:
            pass
        except OSError as exc:  # it stays: save how far it was read so that nobody replays it
            self.error(f"delete {segment.name}", exc)
            try:
                segment.pos_generation += 1
                write_pos(segment.path, segment.pos, segment.pos_generation, fsync=self.fsync)
            except OSError:
                pass
            self.forget(segment)
            return
        self.forget(segment)
        try:
            os.unlink(segment.path + ".pos")
        except OSError:
            pass  # an orphan offset file is removed by a later scan

    def forget(self, segment: Segment) -> None:
        close_quietly(segment.fd)
        segment.fd = None
        if self.segments.get(segment.name) is segment:
            del self.segments[segment.name]
        if self.current is segment:
            self.current = None
            self.reader.forget()
        if self.active is segment:
            self.active = None

    def scan(self) -> None:
        """Learn about segments other processes wrote or released; forget those consumed elsewhere."""
        self.last_scan = time.monotonic()
        try:
            found, leftovers = list_directory(self.directory)
        except OSError as exc:
            self.error("scan", exc)
            return
        for name, match in found.items():
            segment = self.segments.get(name)
            if segment is not None and (segment.fd is not None or segment.writer == self.writer):
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
                    self.error(f"scan {name}", exc)
                continue
            self.segments[name] = segment
            segment.size = segment.end = size
            segment.pos = min(max(FILE_HEADER.size, saved[0] if saved else 0), size)
        for segment in list(self.segments.values()):
            if segment.name not in found and segment.fd is None:
                del self.segments[segment.name]
        for name in leftovers:
            remove_leftover(self.directory, name)
