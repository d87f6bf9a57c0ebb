"""The on-disk spool (kafkalog.spool): framing, rotation, commit/restart, corruption, size cap, processes, errors."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import pytest

from kafkalog.spool import DiskSpool, SpoolAppend
from kafkalog.typing import Message

FORK = multiprocessing.get_context("fork")
SMALL = {"segment_bytes": 1024, "max_bytes": 1024 * 1024, "rescan_interval": 0}


def record(n: int, writer: str = "w", size: int = 60) -> Message:
    """A record whose value says who wrote it and its number, padded to ``size`` bytes."""
    return Message("logs", writer.encode(), f"{writer}:{n:08d}:".encode().ljust(size, b"."), 1_700_000_000_000 + n)


def records(count: int, writer: str = "w", start: int = 0, size: int = 60) -> list[Message]:
    return [record(n, writer, size) for n in range(start, start + count)]


def drain(spool: DiskSpool, batch: int = 37) -> list[Message]:
    """Read and commit until the spool has nothing pending."""
    out: list[Message] = []
    while (got := spool.read(batch)) is not None:
        out.extend(got.messages)
        spool.commit(got)
    return out


def numbers(messages: list[Message], writer: str | None = None) -> list[int]:
    """The record numbers in ``messages`` (of one writer if given), in the order given."""
    out = []
    for m in messages:
        who, n, _ = m.value.split(b":", 2)
        if writer is None or who.decode() == writer:
            out.append(int(n))
    return out


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def make_read_only(directory: Path) -> Callable[[], None]:
    """Make ``directory`` read-only even for root (chattr +i), or skip; returns the undo."""
    if os.geteuid() != 0:
        directory.chmod(0o500)
        return lambda: directory.chmod(0o700)
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(directory)], capture_output=True,
                                                        check=False).returncode != 0:
        pytest.skip("running as root and cannot make a directory immutable")

    def undo() -> None:
        subprocess.run(["chattr", "-i", str(directory)], check=True)

    return undo


def run(target: Callable[..., None], *args: Any) -> multiprocessing.process.BaseProcess:
    process = FORK.Process(target=target, args=args)
    process.start()
    return process


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def make_spool(spool_dir: Path) -> Iterator[Callable[..., DiskSpool]]:
    """Spools on ``spool_dir`` with small segments; all closed after the test."""
    made: list[DiskSpool] = []

    def make(**options: Any) -> DiskSpool:
        spool = DiskSpool(spool_dir, **{**SMALL, **options})
        made.append(spool)
        return spool

    yield make
    for spool in made:
        spool.close()


class TestDirectory:
    def test_creates_nested_directory(self, tmp_path: Path) -> None:
        """The directory (and its parents) is created."""
        with DiskSpool(tmp_path / "a" / "b"):
            assert (tmp_path / "a" / "b").is_dir()


class TestAppendRead:
    def test_fields_round_trip(self, make_spool: Callable[..., DiskSpool]) -> None:
        """Topic, key (including None and empty), value and timestamp come back exactly."""
        sent = [Message("t", None, b"v", 1), Message("tópico", b"", b"", -5),
                Message("x" * 249, b"k" * 300, b"\0" * 5000, 2**62)]
        spool = make_spool(segment_bytes=64 * 1024)
        assert spool.append(sent) == SpoolAppend(3, 0)
        assert drain(spool) == sent

    def test_order_across_rotations(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """Records come back oldest first across many segment rotations, each once."""
        spool = make_spool()
        for start in range(0, 1000, 100):
            assert spool.append(records(100, start=start)) == SpoolAppend(100, 0)
        assert len(segments(spool_dir)) > 50
        assert numbers(drain(spool)) == list(range(1000))
        assert len(segments(spool_dir)) == 1  # only the segment still being written is left

    def test_fsync_mode_round_trip(self, make_spool: Callable[..., DiskSpool]) -> None:
        """With fsync=True the same records come back, across a rotation and a restart."""
        spool = make_spool(fsync=True)
        spool.append(records(30))
        batch = spool.read(5)
        assert batch is not None
        spool.commit(batch)
        spool.close()
        assert numbers(drain(make_spool(fsync=True))) == list(range(5, 30))

    def test_leftovers_cleaned(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """An offset file without its segment and an old half-created segment are removed by the next scan."""
        spool_dir.mkdir()
        orphan_pos = spool_dir / "0000001-0000000000000000001-00000001.seg.pos"
        stale_new = spool_dir / "0000001-0000000000000000001-00000002.seg.new"
        fresh_new = spool_dir / "0000001-0000000000000000001-00000003.seg.new"
        for path in (orphan_pos, stale_new, fresh_new):
            path.write_bytes(b"x")
        os.utime(stale_new, (time.time() - 3600, time.time() - 3600))
        make_spool()
        assert not orphan_pos.exists() and not stale_new.exists()
        assert fresh_new.exists()  # may be a segment being created right now

    def test_interleaved_append_and_read(self, make_spool: Callable[..., DiskSpool]) -> None:
        """Reading while appending (into the segment being written) keeps order and loses nothing."""
        spool = make_spool()
        got: list[Message] = []
        for start in range(0, 600, 30):
            spool.append(records(30, start=start))
            got.extend(drain(spool, batch=7))
        assert numbers(got) == list(range(600))

    def test_read_does_not_consume(self, make_spool: Callable[..., DiskSpool]) -> None:
        """Until commit, read returns the same records again."""
        spool = make_spool()
        spool.append(records(10))
        first = spool.read(4)
        again = spool.read(4)
        assert first is not None and again is not None
        assert first.messages == again.messages == records(4)
        spool.commit(again)
        after = spool.read(4)
        assert after is not None and numbers(after.messages) == [4, 5, 6, 7]

    def test_commit_covers_earlier_and_ignores_stale(self, make_spool: Callable[..., DiskSpool]) -> None:
        """Committing a longer batch after a shorter one counts each record once; a stale commit changes nothing."""
        spool = make_spool()
        spool.append(records(10))
        short, long = spool.read(3), spool.read(6)
        assert short is not None and long is not None
        spool.commit(short)
        spool.commit(long)
        spool.commit(short)
        assert spool.pending_records() == 4
        assert numbers(drain(spool)) == [6, 7, 8, 9]

    def test_nothing_pending(self, make_spool: Callable[..., DiskSpool]) -> None:
        """An empty spool reads None; so does read(0)."""
        spool = make_spool()
        assert spool.read(10) is None
        spool.append(records(1))
        assert spool.read(0) is None

    def test_pending_counts(self, make_spool: Callable[..., DiskSpool]) -> None:
        """pending_records/bytes grow with append and shrink with commit."""
        spool = make_spool()
        spool.append(records(50))
        assert spool.pending_records() == 50
        assert spool.pending_bytes() > 50 * 60
        drain(spool)
        assert (spool.pending_records(), spool.pending_bytes()) == (0, 0)

    def test_closed(self, make_spool: Callable[..., DiskSpool]) -> None:
        """After close (twice is fine) append drops everything and read returns None."""
        spool = make_spool()
        spool.close()
        spool.close()
        assert spool.append(records(3)) == SpoolAppend(0, 3, failed=3)
        assert spool.read(10) is None

    def test_unframeable_record_dropped(self, make_spool: Callable[..., DiskSpool]) -> None:
        """A record that cannot be framed (timestamp out of range) is dropped alone, with last_error set."""
        spool = make_spool()
        result = spool.append([record(0), Message("t", None, b"v", 2**70), record(1)])
        assert result == SpoolAppend(2, 1)
        assert spool.last_error
        assert numbers(drain(spool)) == [0, 1]


class TestRestart:
    def test_resumes_after_last_commit(self, make_spool: Callable[..., DiskSpool]) -> None:
        """A new spool on the same directory starts right after the last committed record."""
        first = make_spool()
        first.append(records(300))
        committed = 0
        for _ in range(5):  # a batch never spans segments: 5 batches end inside the 5th segment or later
            batch = first.read(20)
            assert batch is not None
            first.commit(batch)
            committed += len(batch)
        first.close()
        second = make_spool()
        assert numbers(drain(second)) == list(range(committed, 300))

    def test_uncommitted_batch_is_read_again(self, make_spool: Callable[..., DiskSpool]) -> None:
        """A batch read but not committed before the restart is delivered again (at-least-once)."""
        first = make_spool()
        first.append(records(50))
        done = first.read(10)
        assert done is not None
        first.commit(done)
        assert first.read(10) is not None  # "sent", then the process stops before commit
        first.close()
        assert numbers(drain(make_spool())) == list(range(10, 50))

    def test_killed_writer_is_replayed(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """Segments of a process killed with SIGKILL are replayed by the next spool, after its last commit."""
        process = run(_append_commit_and_die, str(spool_dir))
        process.join(30)
        assert process.exitcode == -signal.SIGKILL
        assert numbers(drain(make_spool())) == list(range(11, 500))  # its first batch was one whole segment

    def test_restart_after_restart(self, make_spool: Callable[..., DiskSpool]) -> None:
        """Leftovers of several earlier spools are all replayed, each writer in order."""
        for writer in "abc":
            spool = make_spool()
            spool.append(records(80, writer))
            spool.close()
        got = drain(make_spool())
        assert sorted(numbers(got)) == sorted(list(range(80)) * 3)
        for writer in "abc":
            assert numbers(got, writer) == list(range(80))


def _append_commit_and_die(directory: str) -> None:
    spool = DiskSpool(directory, **SMALL)  # type: ignore[arg-type]
    spool.append(records(500))
    batch = spool.read(40)
    assert batch is not None and len(batch) == 11
    spool.commit(batch)
    spool.read(40)
    os.kill(os.getpid(), signal.SIGKILL)


class TestCorruption:
    def _write_closed(self, make_spool: Callable[..., DiskSpool], count: int) -> None:
        spool = make_spool(segment_bytes=64 * 1024)
        spool.append(records(count))
        spool.close()

    def test_torn_tail_skipped_and_counted(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """A segment cut mid-record keeps the records before the cut; the torn one is counted."""
        self._write_closed(make_spool, 10)
        [segment] = segments(spool_dir)
        os.truncate(segment, segment.stat().st_size - 7)
        reader = make_spool()
        assert numbers(drain(reader)) == list(range(9))
        assert reader.corrupt_skipped == 1
        assert reader.last_error and "torn" in reader.last_error

    def test_torn_header_skipped(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """A cut inside a record header is a torn tail too."""
        self._write_closed(make_spool, 10)
        [segment] = segments(spool_dir)
        size = segment.stat().st_size
        os.truncate(segment, size - (size - 16) // 10 + 5)
        reader = make_spool()
        assert numbers(drain(reader)) == list(range(9))
        assert reader.corrupt_skipped == 1

    def test_flipped_byte_skips_rest_of_segment(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """A flipped byte fails the CRC: the records before it survive, it and the rest of the segment are
        skipped and counted (the valid frames after it included)."""
        self._write_closed(make_spool, 10)
        [segment] = segments(spool_dir)
        data = bytearray(segment.read_bytes())
        data[data.index(b"w:00000005:") + 3] ^= 0x01
        segment.write_bytes(data)
        reader = make_spool()
        assert numbers(drain(reader)) == list(range(5))
        assert reader.corrupt_skipped == 5
        assert reader.last_error and "CRC" in reader.last_error

    def test_corruption_confined_to_its_segment(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """A bad frame in one segment does not cost the records of the next segments."""
        spool = make_spool()
        spool.append(records(100))
        spool.close()
        second = segments(spool_dir)[1]
        data = bytearray(second.read_bytes())
        data[30] ^= 0xFF
        second.write_bytes(data)
        reader = make_spool()
        got = numbers(drain(reader))
        assert got == sorted(got) and got[-1] == 99
        assert len(got) + reader.corrupt_skipped == 100

    def test_bad_segment_header(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """A segment whose file header is wrong is skipped whole and its records counted, not fatal."""
        self._write_closed(make_spool, 10)
        [segment] = segments(spool_dir)
        data = bytearray(segment.read_bytes())
        data[0:8] = b"XXXXXXXX"
        segment.write_bytes(data)
        reader = make_spool()
        assert drain(reader) == []
        assert reader.corrupt_skipped == 10
        assert segments(spool_dir) == []

    def test_empty_and_garbage_files(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """A zero-length segment and one full of garbage are dropped without error; good ones still read."""
        self._write_closed(make_spool, 5)
        spool_dir.joinpath("0000001-0000000000000000001-00000001.seg").write_bytes(b"")
        spool_dir.joinpath("0000001-0000000000000000002-00000001.seg").write_bytes(os.urandom(3000))
        reader = make_spool()
        assert numbers(drain(reader)) == list(range(5))
        assert segments(spool_dir) == []

    def test_corrupt_pos_file_replays_from_start(self, make_spool: Callable[..., DiskSpool],
                                                 spool_dir: Path) -> None:
        """An unreadable offset file means the segment is replayed whole: duplicates, never loss."""
        first = make_spool(segment_bytes=64 * 1024)
        first.append(records(20))
        batch = first.read(5)
        assert batch is not None
        first.commit(batch)
        first.close()
        [pos] = spool_dir.glob("*.pos")
        pos.write_bytes(b"garbage")
        assert numbers(drain(make_spool())) == list(range(20))

    def test_torn_pos_write_keeps_previous_offset(self, make_spool: Callable[..., DiskSpool],
                                                  spool_dir: Path) -> None:
        """A torn write of the newest offset slot falls back to the commit before it, not to the start."""
        first = make_spool(segment_bytes=64 * 1024)
        first.append(records(20))
        for size in (5, 3):
            batch = first.read(size)
            assert batch is not None
            first.commit(batch)
        first.close()
        [pos] = spool_dir.glob("*.pos")
        data = bytearray(pos.read_bytes())
        data[10] ^= 0xFF  # the second commit went to slot 0 (generation 2)
        pos.write_bytes(data)
        assert numbers(drain(make_spool())) == list(range(5, 20))


class TestCap:
    def test_drop_newest_refuses_new(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """At max_bytes, drop_newest refuses new records and counts them; the oldest stay readable."""
        spool = make_spool(max_bytes=8192, full_policy="drop_newest")
        results = [spool.append(records(10, start=n)) for n in range(0, 300, 10)]
        stored = sum(r.stored for r in results)
        dropped = sum(r.dropped for r in results)
        assert stored + dropped == 300 and dropped > 0
        assert spool.dropped_full == dropped
        assert sum(p.stat().st_size for p in segments(spool_dir)) <= 8192
        assert numbers(drain(spool)) == list(range(stored))

    def test_drop_oldest_deletes_oldest_segments(self, make_spool: Callable[..., DiskSpool],
                                                 spool_dir: Path) -> None:
        """At max_bytes, drop_oldest deletes whole oldest segments, counting their unread records."""
        spool = make_spool(max_bytes=8192, full_policy="drop_oldest")
        for n in range(0, 300, 10):
            assert spool.append(records(10, start=n)) == SpoolAppend(10, 0)
            assert sum(p.stat().st_size for p in segments(spool_dir)) <= 8192
        got = numbers(drain(spool))
        assert got == list(range(300 - len(got), 300))
        assert spool.dropped_full == 300 - len(got) > 0

    def test_drop_oldest_counts_only_unread(self, make_spool: Callable[..., DiskSpool]) -> None:
        """Records already committed are not counted again when their segment is dropped."""
        spool = make_spool(max_bytes=8192, full_policy="drop_oldest")
        spool.append(records(60))
        batch = spool.read(10)
        assert batch is not None
        spool.commit(batch)
        for n in range(60, 300, 10):
            spool.append(records(10, start=n))
        got = numbers(drain(spool))
        assert got == list(range(300 - len(got), 300))
        assert spool.dropped_full == 300 - 10 - len(got)

    def test_cap_spans_other_writers(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """The cap is for the directory: bytes left by another spool count, and drop_oldest removes them first."""
        first = make_spool(max_bytes=8192)
        first.append(records(60, "a"))
        first.close()
        second = make_spool(max_bytes=8192)
        second.append(records(60, "b"))
        assert sum(p.stat().st_size for p in segments(spool_dir)) <= 8192
        got = drain(second)
        assert numbers(got, "b") == list(range(60))
        assert len(numbers(got, "a")) + second.dropped_full == 60


class TestProcesses:
    def test_two_writers_then_one_reader(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """Two processes append concurrently; a reader then gets every record once, each writer's in order."""
        start = FORK.Event()
        writers = [run(_write_many, str(spool_dir), name, 2000, start) for name in ("p", "q")]
        start.set()
        for process in writers:
            process.join(60)
            assert process.exitcode == 0
        got = drain(make_spool())
        assert len(got) == 4000
        for name in ("p", "q"):
            assert numbers(got, name) == list(range(2000))

    def test_concurrent_writers_and_readers(self, make_spool: Callable[..., DiskSpool], spool_dir: Path,
                                            tmp_path: Path) -> None:
        """Two readers drain while two writers write: every record is delivered exactly once, and ordering the
        batches by read time keeps each writer's order."""
        start, writers_done = FORK.Event(), FORK.Event()
        writers = [run(_write_many, str(spool_dir), name, 3000, start) for name in ("p", "q")]
        readers = [run(_read_until_done, str(spool_dir), str(tmp_path / f"r{i}.json"), writers_done)
                   for i in range(2)]
        start.set()
        for process in writers:
            process.join(60)
            assert process.exitcode == 0
        writers_done.set()
        for process in readers:
            process.join(60)
            assert process.exitcode == 0
        batches: list[tuple[int, list[str]]] = []
        for i in range(2):
            batches.extend(json.loads((tmp_path / f"r{i}.json").read_text()))
        batches.sort()
        got = [Message("logs", None, value.encode(), 0) for _, values in batches for value in values]
        assert sorted(numbers(got)) == sorted(list(range(3000)) * 2)
        for name in ("p", "q"):
            assert numbers(got, name) == list(range(3000))
        assert drain(make_spool()) == []

    def test_claimed_segment_not_taken(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """A segment another live process has claimed (read, not committed) is not read until it lets go."""
        writer = make_spool(segment_bytes=64 * 1024)
        writer.append(records(20))
        writer.close()
        claimed, release = FORK.Event(), FORK.Event()
        holder = run(_claim_and_hold, str(spool_dir), claimed, release)
        assert claimed.wait(30)
        reader = make_spool()
        assert reader.read(100) is None
        assert reader.pending_bytes() > 0
        release.set()
        holder.join(30)
        assert numbers(drain(reader)) == list(range(20))

    def test_live_writer_segment_not_taken(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """The segment a live process is appending to is never read by another process; after it closes, it is."""
        written, release = FORK.Event(), FORK.Event()
        holder = run(_write_and_hold, str(spool_dir), written, release, 10)  # all in its active segment
        assert written.wait(30)
        reader = make_spool()
        assert reader.read(100) is None
        assert reader.pending_bytes() > 0
        release.set()
        holder.join(30)
        assert numbers(drain(reader)) == list(range(10))

    def test_finished_segments_of_live_writer_are_shared(self, make_spool: Callable[..., DiskSpool],
                                                         spool_dir: Path) -> None:
        """Segments a live writer has rotated away from may be replayed by another process, in order."""
        written, release = FORK.Event(), FORK.Event()
        holder = run(_write_and_hold, str(spool_dir), written, release, 200)
        assert written.wait(30)
        reader = make_spool()
        got = drain(reader)
        assert numbers(got) == list(range(len(got))) and 100 < len(got) < 200
        release.set()
        holder.join(30)
        assert numbers(got + drain(reader)) == list(range(200))

    def test_forked_child_writes_its_own_segments(self, make_spool: Callable[..., DiskSpool],
                                                  spool_dir: Path) -> None:
        """A spool used in a forked child writes new segments under the child's pid, never the parent's."""
        spool = make_spool(segment_bytes=64 * 1024)
        spool.append(records(10, "parent"))
        [parent_segment] = segments(spool_dir)
        size = parent_segment.stat().st_size
        child = run(_append_in_child, spool)
        child.join(30)
        assert child.exitcode == 0
        assert parent_segment.stat().st_size == size
        assert {p.name.split("-")[0] for p in segments(spool_dir)} == {f"{os.getpid():07d}", f"{child.pid:07d}"}
        spool.append(records(10, "parent", start=10))
        got = drain(spool)
        assert numbers(got, "parent") == list(range(20))
        assert numbers(got, "child") == list(range(10))

    def test_pid_change_detected_without_fork_hook(self, make_spool: Callable[..., DiskSpool], spool_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
        """Even without the at-fork hook, a changed pid makes the spool start its own segments."""
        spool = make_spool(segment_bytes=64 * 1024)
        spool.append(records(5))
        [before] = segments(spool_dir)
        size = before.stat().st_size
        monkeypatch.setattr(os, "getpid", lambda: 4242)
        assert spool.append(records(5, start=5)) == SpoolAppend(5, 0)
        assert before.stat().st_size == size
        assert any(p.name.startswith("0004242-") for p in segments(spool_dir))

    def test_idle_forked_child_does_not_keep_locks(self, make_spool: Callable[..., DiskSpool],
                                                   spool_dir: Path) -> None:
        """A child forked from a spool's process and never using it does not keep that process's segments
        locked after the process dies (the at-fork hook closed the inherited descriptors)."""
        forked, release = FORK.Event(), FORK.Event()
        parent = run(_spool_fork_and_die, str(spool_dir), forked, release)
        try:
            assert forked.wait(30)
            deadline = time.monotonic() + 30
            while parent.exitcode is None and time.monotonic() < deadline:  # join() would wait for the
                time.sleep(0.01)  # grandchild too: it inherited the sentinel pipe
            assert parent.exitcode == 0
            assert numbers(drain(make_spool())) == list(range(10))
        finally:
            release.set()


def _spool_fork_and_die(directory: str, forked: EventType, release: EventType) -> None:
    spool = DiskSpool(directory, **SMALL)  # type: ignore[arg-type]
    spool.append(records(10))
    FORK.Process(target=_outlive_parent, args=(forked, release)).start()  # holding whatever it inherited
    os._exit(0)


def _outlive_parent(forked: EventType, release: EventType) -> None:
    # Set here, not in the parent after start(): the at-fork hooks have run in this process by now. Set by the
    # parent, a busy machine could let the test read the spool before this child had closed what it inherited.
    forked.set()
    release.wait(30)


def _write_many(directory: str, name: str, count: int, start: EventType) -> None:
    spool = DiskSpool(directory, **SMALL)  # type: ignore[arg-type]
    start.wait(30)
    for n in range(0, count, 25):
        assert spool.append(records(25, name, start=n)) == SpoolAppend(25, 0)
    spool.close()


def _read_until_done(directory: str, out: str, writers_done: EventType) -> None:
    spool = DiskSpool(directory, **SMALL)  # type: ignore[arg-type]
    batches: list[tuple[int, list[str]]] = []
    idle_after_done = 0
    while idle_after_done < 3:
        done = writers_done.is_set()
        batch = spool.read(40)
        if batch is None:
            idle_after_done += done
            time.sleep(0.002)
            continue
        batches.append((time.monotonic_ns(), [m.value.decode() for m in batch.messages]))
        spool.commit(batch)
    spool.close()
    Path(out).write_text(json.dumps(batches))


def _claim_and_hold(directory: str, claimed: EventType, release: EventType) -> None:
    spool = DiskSpool(directory, **SMALL)  # type: ignore[arg-type]
    assert spool.read(5) is not None
    claimed.set()
    release.wait(30)
    spool.close()


def _write_and_hold(directory: str, written: EventType, release: EventType, count: int) -> None:
    spool = DiskSpool(directory, **SMALL)  # type: ignore[arg-type]
    spool.append(records(count))
    written.set()
    release.wait(30)
    spool.close()


def _append_in_child(spool: DiskSpool) -> None:
    assert spool.append(records(10, "child")) == SpoolAppend(10, 0)
    assert spool.read(100) is not None  # its own records, not the parent's segment
    spool.close()


class TestDiskErrors:
    def test_directory_removed_before_first_append(self, make_spool: Callable[..., DiskSpool],
                                                   spool_dir: Path) -> None:
        """No directory to write in: append drops everything, sets last_error, raises nothing."""
        spool = make_spool()
        shutil.rmtree(spool_dir)
        assert spool.append(records(5)) == SpoolAppend(0, 5, failed=5)
        assert spool.last_error and "No such file" in spool.last_error
        assert spool.read(10) is None

    def test_directory_removed_under_open_segment(self, make_spool: Callable[..., DiskSpool],
                                                  spool_dir: Path) -> None:
        """The segment being written was deleted with its directory: later appends are dropped, not lost silently."""
        spool = make_spool()
        spool.append(records(5))
        shutil.rmtree(spool_dir)
        assert spool.append(records(5, start=5)) == SpoolAppend(0, 5, failed=5)
        assert spool.last_error
        assert spool.read(10) is None
        spool.close()

    def test_directory_replaced_by_file(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """A file where the directory was: append drops and reports, nothing raises."""
        spool = make_spool()
        spool_dir.rmdir()
        spool_dir.write_bytes(b"")
        assert spool.append(records(3)) == SpoolAppend(0, 3, failed=3)
        assert spool.last_error and "Not a directory" in spool.last_error

    def test_read_only_directory(self, make_spool: Callable[..., DiskSpool], spool_dir: Path) -> None:
        """A directory that turned read-only: append drops and reports; once writable again, appends work."""
        spool = make_spool()
        restore = make_read_only(spool_dir)
        try:
            assert spool.append(records(3)) == SpoolAppend(0, 3, failed=3)
            assert spool.last_error and ("denied" in spool.last_error or "not permitted" in spool.last_error)
        finally:
            restore()
        assert spool.append(records(3)) == SpoolAppend(3, 0)

    def test_disk_full_mid_write(self, make_spool: Callable[..., DiskSpool],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
        """ENOSPC while writing: that batch is dropped and cut back out; the records around it read intact."""
        spool = make_spool(segment_bytes=64 * 1024)
        spool.append(records(5))
        real_write = os.write

        def half_then_full(fd: int, data: Any) -> int:
            if len(data) > 100:
                return real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "write", half_then_full)
        assert spool.append(records(5, start=5)) == SpoolAppend(0, 5, failed=5)
        assert spool.last_error and "No space" in spool.last_error
        monkeypatch.undo()
        spool.append(records(5, start=10))
        assert numbers(drain(spool)) == [0, 1, 2, 3, 4, 10, 11, 12, 13, 14]
        assert spool.corrupt_skipped == 0
