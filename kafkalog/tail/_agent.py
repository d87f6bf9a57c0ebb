"""The agent loop: find files, read them in chunks, ship entries through the library's shipper, save offsets.

One thread runs :meth:`TailAgent.run`; another (the CLI's main thread) may call :meth:`stop` and
:meth:`request_reload`. Records go through :class:`~kafkalog._intake.Intake` like any logging call, by default to
an :class:`~kafkalog.buffers.AckedQueue`: the files are the buffer, an offset moves once what was read before it
is settled (:class:`~._acks.Acks`), and a full queue pauses reading. With ``--spool``, to a disk spool
(``spool_full_policy="block"``): a put returns once the record is on disk, and a full spool pauses reading.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from itertools import pairwise
from operator import itemgetter
from typing import Any

from .._intake import Intake
from ..config import KafkaLogConfig
from ._acks import Acks
from ._config import TailInput, TailSettings
from ._discovery import expand
from ._events import EventMaker
from ._follow import Follower
from ._identity import FINGERPRINT_BYTES, FileKey, key_of, same_content, take_fingerprint
from ._lines import Entry, PlainRead
from ._offsets import Offset, OffsetStore
from ._puts import Puts

_VALUE = itemgetter(2)  # a Message's value
_RESAVE = 3600.0  # seconds after which unchanged offsets are written again (their ``seen`` time)


class TailAgent:
    """Follows the files of its inputs and ships what they get, until :meth:`stop`."""

    def __init__(self, settings: TailSettings, config: KafkaLogConfig, state_dir: str, *,
                 settings_loader: Callable[[], TailSettings] | None = None, watch_file: str | None = None,
                 scan_interval: float = 1.0, save_interval: float = 0.2, rotate_wait: float = 5.0,
                 partial_timeout: float = 5.0, max_open: int = 256, chunk_bytes: int = 256 * 1024,
                 max_line_bytes: int = 512 * 1024, say: Callable[[str], None] = lambda text: None) -> None:
        self.config = config
        self.store = OffsetStore(state_dir)
        # no spool: the files are the buffer, and an offset moves only once what was read before it is settled
        self.acked = config.spool_dir is None
        self.intake = Intake(config, acked=self.acked)
        self.acks = Acks(self.intake.worker)
        self.puts = Puts(config, self.acked)  # small puts: offsets are saved while a full queue drains
        self.inputs: tuple[TailInput, ...] = settings.inputs
        self._loader = settings_loader
        self._watch = watch_file
        self._watch_stamp = self._stamp()
        self.scan_interval = scan_interval
        self.save_interval = save_interval
        self.rotate_wait = rotate_wait
        self.partial_timeout = partial_timeout
        self.max_open = max_open
        self.chunk_bytes = chunk_bytes
        self.max_line_bytes = max_line_bytes
        self.say = say
        self.followers: dict[FileKey, Follower] = {}
        self.saved: dict[FileKey, Offset] = self.store.load()  # offsets of files not followed right now
        self._stopping = threading.Event()
        self._reload = threading.Event()
        self._closing = False
        self._first_scan = True
        self._scanning = False
        self._next_save = 0.0
        self._saved_signature: tuple[tuple[int, int, int, str, int], ...] | None = None  # None: never written
        self._saved_at = 0.0
        self._makers: dict[int, EventMaker] = {}
        self.lines_shipped = 0

    # --- control, from other threads -------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()

    def request_reload(self) -> None:
        self._reload.set()

    def abort_waits(self, timeout: float) -> None:
        """Shutting down while a put waits for room in a full spool: end the wait (the entry is read again)."""
        self._closing = True
        self.intake.worker.begin_close(timeout)

    # --- the loop ------------------------------------------------------------------------------------------------

    def run(self) -> None:
        next_scan = 0.0
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                if self._reload.is_set() or (now >= next_scan and self._watch_changed()):
                    self._reload.clear()
                    self._apply_reload()
                if now >= next_scan:
                    self._scan()
                    next_scan = now + self.scan_interval
                busy = self._read_round()
                self._timeouts()
                self._save_if_due()
                if not busy:
                    self._stopping.wait(0.1)
        finally:
            self.save()

    def close(self, timeout: float) -> Any:
        """Deliver what was read within ``timeout`` (the rest stays in the spool), save offsets, let go."""
        report = self.intake.close(timeout)
        self.acks.apply(self.followers, self.saved)
        self.save()
        for follower in self.followers.values():
            follower.close()
        self.store.close()
        return report

    # --- inputs ---------------------------------------------------------------------------------------------------

    def _stamp(self) -> tuple[float, int] | None:
        if self._watch is None:
            return None
        try:
            info = os.stat(self._watch)
        except OSError:
            return None
        return (info.st_mtime, info.st_size)

    def _watch_changed(self) -> bool:
        stamp = self._stamp()
        if stamp == self._watch_stamp:
            return False
        self._watch_stamp = stamp
        return stamp is not None

    def _apply_reload(self) -> None:
        if self._loader is None:
            return
        try:
            settings = self._loader()
        except Exception as exc:  # a bad edit keeps the inputs running as they were
            self.say(f"kafkalog tail: config not reloaded, keeping the current inputs: {exc}")
            return
        self.inputs = settings.inputs
        self._makers.clear()
        self.say(f"kafkalog tail: config reloaded ({len(self.inputs)} input(s))")

    def _maker(self, source: TailInput) -> EventMaker:
        maker = self._makers.get(id(source))
        if maker is None:
            maker = EventMaker(host=self.config.host, fmt=source.format, static_fields=source.static_fields,
                               action=source.action, messages=self.intake.messages, topic=source.topic)
            self._makers[id(source)] = maker
        return maker

    # --- discovery and rotation -----------------------------------------------------------------------------

    def _scan(self) -> None:
        self._scanning = True
        try:
            self._scan_files()
        finally:
            self._scanning = False

    def _scan_files(self) -> None:
        found = expand(self.inputs)
        now = time.monotonic()
        by_path = {f.path: f for f in self.followers.values() if f.draining_since is None}
        for path, (info, source) in found.items():
            key = key_of(info)
            old = by_path.get(path)
            if old is not None and old.key != key:  # rotated: read the old file to its end before the new one
                self._drain(old, now)
            follower = self.followers.get(key)
            if follower is None:
                self._follow(path, key, info, source)
                continue
            follower.path, follower.draining_since = path, None
            if follower.source is not source:
                follower.source = source
                follower.maker = self._maker(source)
                follower.assembler.start = source.multiline_start
            if follower.fd is None:
                follower.size = info.st_size
        for follower in list(self.followers.values()):
            if follower.draining_since is None and found.get(follower.path, (None,))[0] is None:
                self._drain(follower, now)  # deleted, renamed out of the patterns, or its input removed
            elif follower.draining_since is None and key_of(found[follower.path][0]) != follower.key:
                self._drain(follower, now)
        self._first_scan = False
        self._forget_gone()

    def _forget_gone(self) -> None:
        """Drop saved offsets of files no longer at their path (deleted, or renamed on): the file is gone for us."""
        for key, entry in list(self.saved.items()):
            try:
                here = key_of(os.stat(entry.path))
            except OSError:
                here = None
            if here != key:
                del self.saved[key]

    def _follow(self, path: str, key: FileKey, info: os.stat_result, source: TailInput) -> None:
        self._make_room()
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            self.say(f"kafkalog tail: cannot open {path}: {exc}")
            return
        opened = os.fstat(fd)
        if key_of(opened) != key:
            os.close(fd)  # replaced since the scan: the next scan sees the new one
            return
        offset, line = 0, 1
        saved = self.saved.pop(key, None)
        original = self._original_of(fd, key)
        if saved is not None and saved.offset <= opened.st_size and same_content(fd, saved.fingerprint):
            offset, line = saved.offset, saved.line
        elif original is None and self._first_scan and source.start_at == "end":
            offset = opened.st_size
        follower = Follower(path, key, source, self._maker(source), offset=offset, line=line,
                            fingerprint=take_fingerprint(fd, opened.st_size), max_line_bytes=self.max_line_bytes)
        follower.fd, follower.size = fd, opened.st_size
        if original is not None and saved is None:  # a copy of a followed file: wait until it is truncated
            follower.copy_of, follower.copied_at = original, time.monotonic()
        self.followers[key] = follower

    def _original_of(self, fd: int, key: FileKey) -> Follower | None:
        """The followed file this new one is a copy of (same first bytes), as copytruncate makes."""
        head = take_fingerprint(fd, FINGERPRINT_BYTES)
        if head.length < FINGERPRINT_BYTES:  # a full fingerprint only: small files often share a header
            return None
        for follower in self.followers.values():
            if follower.fingerprint == head and follower.key != key and follower.fd is not None \
                    and follower.copy_of is None:
                return follower
        return None

    def _drain(self, follower: Follower, now: float) -> None:
        """The file left its path: read what it still holds now, then keep reading it for ``rotate_wait``."""
        follower.draining_since = now if follower.draining_since is None else follower.draining_since
        while self._read_file(follower):
            pass

    def _make_room(self) -> None:
        """Before opening one more file: at most ``max_open`` - 1 open, closing those read least recently (idle
        ones first). Renamed or deleted files being finished and copies stay open: they cannot be opened again."""
        open_ones = [f for f in self.followers.values() if f.fd is not None
                     and f.draining_since is None and f.copy_of is None]
        excess = len(open_ones) + 1 - self.max_open
        if excess <= 0:
            return
        open_ones.sort(key=lambda f: (not f.at_end(), f.last_read))
        for follower in open_ones[:excess]:
            follower.close()

    # --- reading and shipping -----------------------------------------------------------------------------------

    def _read_round(self) -> bool:
        busy = False
        for follower in list(self.followers.values()):
            if self._stopping.is_set():
                break
            busy |= self._read_file(follower)
        return busy

    def _read_file(self, follower: Follower) -> bool:
        """Read one chunk of ``follower`` if it has one; True if it did."""
        if follower.copy_of is not None:
            return False
        before = follower.size
        if follower.fd is None:
            if follower.size == follower.read_to:  # as the last scan saw it: unchanged (smaller: truncated)
                return False
            self._make_room()
            if not follower.open():
                return False
            before = -1
        follower.refresh_size()
        if follower.size != before and follower.changed_under_us():  # idle files cost one fstat per round
            self._truncated(follower)
        if follower.at_end():
            return False
        source = follower.source
        read = follower.read(self.chunk_bytes, plain=source.format == "text" and source.multiline_start is None)
        return self._ship(follower, read) if isinstance(read, list) else self._ship_plain(follower, read)

    def _ship_plain(self, follower: Follower, read: PlainRead) -> bool:
        """:meth:`_ship` for lines that take the plain path: encoded and queued with no Python step per line."""
        self._save_if_due()
        now = time.time()
        messages = follower.maker.plain_messages(read, follower.path, now, follower.id_prefix(self.config.host))
        if messages is None:
            return self._ship(follower, read.entries())
        lines, start, offset = read.lines, 0, read.start
        for end in self.puts.cuts(map(len, map(_VALUE, messages)), len(messages)):
            done = self.intake.put_many(messages[start:end])
            self.lines_shipped += done
            if done:
                offset += sum(map(len, lines[start:start + done])) + done  # after the last line taken
                follower.shipped_to(offset, read.first + start + done)
                self.acks.handed(follower)
            if done < end - start:
                if not self._closing:  # a disk error: read the rest again next round
                    follower.restart_at(follower.offset, follower.line)
                return False
            start = end
            if start < len(messages):
                self._save_if_due()
        return True

    def _truncated(self, follower: Follower) -> None:
        """Copytruncate: the rest of what was written before the truncation is in the copy, if one is followed."""
        copy = next((f for f in self.followers.values() if f.copy_of is follower), None)
        if copy is None and not self._scanning:  # the copy may be there, not found yet: look now
            self._scan()
            copy = next((f for f in self.followers.values() if f.copy_of is follower), None)
        if copy is not None:
            copy.copy_of = None
            # the copy goes on from the last entry shipped; saved from the last one settled
            copy.restart_at(follower.offset, follower.line, (follower.acked_offset, follower.acked_line))
        else:
            self._ship(follower, follower.take_held(partial=True))
        self.say(f"kafkalog tail: {follower.path} was truncated; reading it again from the start")
        follower.restart_at(0, 1, (0, 1))

    def _ship(self, follower: Follower, entries: list[Entry]) -> bool:
        """Ship the entries of one read in puts (:mod:`._puts`); the offset moves past what the queue took.

        False when closing or a disk error cut the batch short: what was not taken is read again (at the next
        start, or at the next round: the offset never moves past a line not on disk)."""
        if not entries:
            return True
        cuts = pairwise([0, *self.puts.cuts((len(entry.text) for entry in entries), len(entries))])
        return all(self._ship_some(follower, entries[start:end]) for start, end in cuts)  # stops at a False

    def _ship_some(self, follower: Follower, entries: list[Entry]) -> bool:
        self._save_if_due()  # also before a put that waits for room: what was put before stays saved
        now = time.time()
        messages, owners, count = follower.maker.entry_messages(entries, follower.path, now,
                                                                follower.id_prefix(self.config.host))
        done = self.intake.put_many(messages)
        if done < len(messages):
            self.lines_shipped += done
            if owners[done]:
                follower.shipped(entries[owners[done] - 1])
                self.acks.handed(follower)
            if not self._closing:  # a disk error: read the rest again next round
                follower.restart_at(follower.offset, follower.line)
            return False
        self.lines_shipped += count
        follower.shipped(entries[-1])
        self.acks.handed(follower)
        return True

    def _timeouts(self) -> None:
        now = time.monotonic()
        for follower in list(self.followers.values()):
            if follower.copy_of is not None:
                if now - follower.copied_at > self.rotate_wait:  # never truncated: a plain copy, read on from
                    original = follower.copy_of  # where the original is
                    follower.copy_of = None
                    follower.restart_at(original.offset, original.line, (original.acked_offset, original.acked_line))
                continue
            if follower.assembler.holding and follower.at_end() \
                    and now - follower.last_read >= follower.source.multiline_timeout:
                self._ship(follower, follower.take_held(partial=False))
            if follower.partial_since is not None and follower.at_end() \
                    and now - follower.partial_since >= self.partial_timeout:
                self._ship(follower, follower.take_held(partial=True))
            if follower.draining_since is not None and now - follower.draining_since >= self.rotate_wait \
                    and (follower.at_end() or follower.fd is None):
                self._ship(follower, follower.take_held(partial=True))
                follower.close()
                del self.followers[follower.key]
                self.saved[follower.key] = follower.saved(time.time())

    def _save_if_due(self) -> None:
        if time.monotonic() >= self._next_save:
            self.save()
            self._next_save = time.monotonic() + self.save_interval

    def save(self, force: bool = False) -> None:
        """Write the offsets file if an offset moved (or an hour passed: ``seen`` keeps entries from expiring)."""
        self.acks.apply(self.followers, self.saved)
        now = time.time()
        offsets = [f.saved(now) for f in self.followers.values() if f.copy_of is None]
        offsets.extend(self.saved.values())
        signature = tuple((o.dev, o.ino, o.offset, o.path, o.fp_len) for o in offsets)
        if not force and signature == self._saved_signature and now - self._saved_at < _RESAVE:
            return
        self._saved_signature, self._saved_at = signature, now
        try:
            self.store.save(offsets)
        except OSError as exc:
            self.say(f"kafkalog tail: cannot save offsets in {self.store.directory}: {exc}")
