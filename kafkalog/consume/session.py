"""The reading loop: poll, filter, write a batch, flush it, and only then count it as done.

"Done" is what ``--group`` commits: the offset after the last record handled (written, or left out by a filter)
whose output has been flushed. So a run stopped by a signal, by ``--max-records`` or by a closed pipe commits
exactly what it wrote, and the next run with the same group starts right after it. A run killed outright
(SIGKILL) may write again up to ``commit_interval`` seconds of records on restart, never fewer.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from ._reach import reach
from .clients import open_reader
from .dedup import Dedup, record_id
from .options import ConsumeOptions
from .output import Format, NdjsonFormat, make_format
from .reader import ConsumeError, Message, Reader
from .view import is_kafkalog, load, view_of

POLL_SECONDS = 0.25
"""Longest wait in one poll: how soon a stop request (a signal) is noticed."""


@dataclass
class SessionResult:
    """What a run did. ``reason``: ``end`` (end of topic), ``max_records``, ``stopped`` or ``closed_pipe``."""

    read: int = 0
    written: int = 0
    not_records: int = 0  # values written that are not log records (counted where values are parsed)
    committed: int = 0  # commits made
    repeats: int = 0  # records left out by --dedup (their id was seen already)
    reason: str = ""


def write_all(out: BinaryIO, data: bytes) -> None:
    """Write all of ``data`` and flush. A signal that arrives while a pipe is full makes ``write`` return having
    written part of it (even through ``BufferedWriter``): the rest is written here, so no line is ever cut."""
    view = memoryview(data)
    while view:
        written = out.write(view)
        if written is None:  # a non-blocking stream that is full: wait for it in flush
            out.flush()
            continue
        view = view[written:]
    out.flush()


class Session:
    """One ``kafkalog consume`` run writing to ``out`` (a binary stream: ``sys.stdout.buffer``)."""

    def __init__(self, options: ConsumeOptions, out: BinaryIO, reader: Reader | None = None) -> None:
        self.options = options
        self.out = out
        self._reader = reader
        self._stopping = False
        self._committed: dict[int, int] = {}
        self._last_commit = time.monotonic()
        self._dedup = Dedup(options.dedup) if options.dedup is not None else None

    def stop(self) -> None:
        """Ask the run to end after the batch in hand (safe to call from a signal handler)."""
        self._stopping = True

    def run(self) -> SessionResult:
        """Read until the end (or forever with ``follow``); raises :class:`ConsumeError` if reading fails, and
        before that :class:`~kafkalog.consume.Unreachable` (with ``kafkalog check``'s exit code) if the brokers,
        the login or the topic fail the check's steps."""
        options = self.options
        reader = self._reader
        if reader is None:
            settings = options.reader_settings()
            reach(settings, options.client)  # kafkalog check's steps: plain errors within the timeout
            reader = open_reader(options.client, settings)
        result = SessionResult()
        done: dict[int, int] = {}  # partition -> next offset, flushed
        try:
            ends = reader.open()
            self._run(reader, ends, done, result)
        finally:
            try:
                if options.group is not None and result.reason:  # no reason: an error is on its way out
                    self._commit(reader, done, result, force=True)
            finally:
                reader.close()
        return result

    def _run(self, reader: Reader, ends: Mapping[int, int], done: dict[int, int], result: SessionResult) -> None:
        options = self.options
        fmt = make_format(options.output, topic=options.topic, color=options.color, meta=options.meta)
        filters = options.filters
        need_view = fmt.needs_view or filters.active or self._dedup is not None
        follow = options.follow
        limit = options.max_records
        pending = {p for p, end in ends.items() if reader.position(p) < end}
        last_progress = time.monotonic()
        while True:
            if self._stopping:
                result.reason = "stopped"
                return
            if not follow and not pending:
                result.reason = "end"
                return
            messages = reader.poll(POLL_SECONDS)
            if messages:
                last_progress = time.monotonic()
            elif not follow and time.monotonic() - last_progress > options.timeout:
                raise ConsumeError(f"nothing read for {options.timeout:g} s before the end of the topic "
                                   f"(partitions {sorted(pending)}): is the broker reachable?")
            result.read += len(messages)
            lasts = {m.partition: m.offset for m in messages}  # offsets grow within a partition: the last
            if not follow and any(offset >= ends[p] for p, offset in lasts.items()):
                # records written after the run started are not part of "up to the end"
                messages = [m for m in messages if m.offset < ends[m.partition]]
                lasts = {m.partition: m.offset for m in messages}
            written = result.written
            reached_limit = False
            if need_view:
                data, handled, written, reached_limit = self._filtered(messages, fmt, written, result)
            else:  # every record is written: the format turns the whole batch into bytes at once
                if limit is not None and written + len(messages) >= limit:
                    messages = messages[:limit - written]
                    lasts = {m.partition: m.offset for m in messages}
                    reached_limit = True
                data = fmt.lines(messages)
                written += len(messages)
                handled = {p: offset + 1 for p, offset in lasts.items()}
            result.written = written
            if data:
                try:
                    write_all(self.out, data)
                except BrokenPipeError:
                    result.reason = "closed_pipe"
                    return
            done.update(handled)
            if reached_limit:
                result.reason = "max_records"
                return
            if not follow:
                for partition in list(pending):
                    if done.get(partition, -1) >= ends[partition] or reader.position(partition) >= ends[partition]:
                        pending.discard(partition)
            if options.group is not None:
                self._commit(reader, done, result, force=False)

    def _filtered(self, messages: Sequence[Message], fmt: Format, written: int,
                  result: SessionResult) -> tuple[bytes, dict[int, int], int, bool]:
        """Parse, filter and format record by record. Returns the output, partition -> next offset handled
        (written or left out by a filter), the count written so far, and whether ``limit`` was reached."""
        filters, limit = self.options.filters, self.options.max_records
        chunks: list[bytes] = []
        handled: dict[int, int] = {}
        line = fmt.line
        # ndjson filtered by --level/--logger judges kafkalog records on their JSON: no view built
        quick = fmt if isinstance(fmt, NdjsonFormat) and filters.on_records else None
        dedup = self._dedup
        for message in messages:
            record = load(message.value)
            if dedup is not None and dedup.repeat(record_id(record)):
                result.repeats += 1
                handled[message.partition] = message.offset + 1
                continue
            if quick is not None and type(record) is dict and is_kafkalog(record):
                if filters.keep_record(record):
                    chunks.append(quick.record_line(message, record))
                    written += 1
            else:
                view = view_of(message.value, record)
                if filters(view):
                    chunks.append(line(message, view))
                    written += 1
                    if not view.is_log:
                        result.not_records += 1
            handled[message.partition] = message.offset + 1
            if limit is not None and written >= limit:
                return b"".join(chunks), handled, written, True
        return b"".join(chunks), handled, written, False

    def _commit(self, reader: Reader, done: Mapping[int, int], result: SessionResult, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_commit < self.options.commit_interval:
            return
        changed = {p: o for p, o in done.items() if self._committed.get(p) != o}
        if changed:
            reader.commit(changed)
            self._committed.update(changed)
            result.committed += 1
        self._last_commit = now

