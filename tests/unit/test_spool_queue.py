"""SpoolQueue: the spool as the worker's queue (logging calls append, the sender reads back and commits)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import wait_until

from kafkalog import KafkaLogConfig
from kafkalog.buffers import RECORD_OVERHEAD, Ledger, SpoolQueue
from kafkalog.spool import DiskSpool, SpoolAppend, SpoolBatch
from kafkalog.transports import MemoryTransport
from kafkalog.typing import Message


class GatedSpool(DiskSpool):
    """A DiskSpool whose read() waits at a gate: the sender holding the disk, as a slow read would."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def read(self, max_records: int) -> SpoolBatch | None:
        self.entered.set()
        self.gate.wait(10)
        return super().read(max_records)


def message(seq: int, writer: str = "a") -> Message:
    return Message("t", None, f"{writer}:{seq}".encode(), seq)


def drain(queue: SpoolQueue) -> list[bytes]:
    """Take and commit everything, as a sender that delivers all would."""
    out: list[bytes] = []
    while (taken := queue.take(1000)) is not None:
        out.extend(m.value for m in taken.messages)
        queue.finish(taken, True)
    return out


@pytest.fixture
def make_queue(tmp_path: Path) -> Iterator[Any]:
    made: list[SpoolQueue] = []

    def make(**options: Any) -> tuple[SpoolQueue, GatedSpool]:
        config = KafkaLogConfig(bootstrap_servers="127.0.0.1:9", topic="t", transport=MemoryTransport(),
                                spool_dir=str(tmp_path / "spool"), handle_sigterm=False, **options)
        spool = GatedSpool(str(tmp_path / "spool"), rescan_interval=0)
        queue = SpoolQueue(config, spool, Ledger(), lambda: None, lambda kind, text: None)
        made.append(queue)
        return queue, spool

    yield make
    for queue in made:
        queue.stop()


def reading_in_background(queue: SpoolQueue, spool: GatedSpool) -> threading.Thread:
    """Start a take() that holds the disk until ``spool.gate`` is set."""
    spool.gate.clear()
    spool.entered.clear()
    thread = threading.Thread(target=queue.take, args=(10,))
    thread.start()
    assert spool.entered.wait(10)
    return thread


class TestPut:
    def test_put_goes_to_disk(self, make_queue: Any) -> None:
        """With the disk free, a record is on disk when put returns."""
        queue, _ = make_queue()
        assert queue.put(message(0)) == ""
        assert queue.pending() == (0, 0, 0, 1)
        assert queue.ledger.counters.spooled == 1

    def test_busy_disk_does_not_block_and_keeps_order(self, make_queue: Any) -> None:
        """While the sender holds the disk, records wait in memory; later they are written first, in order."""
        queue, spool = make_queue()
        queue.put(message(0))
        reader = reading_in_background(queue, spool)
        for seq in range(1, 4):
            assert queue.put(message(seq)) == ""
        assert queue.pending()[0] == 3  # waiting in memory
        spool.gate.set()
        reader.join(10)
        queue.put(message(4))
        assert drain(queue) == [f"a:{n}".encode() for n in range(5)]  # the reader did not commit 0: read again
        assert queue.ledger.counters.dropped == {}

    def test_waiting_records_reach_disk_when_the_sender_lets_go(self, make_queue: Any) -> None:
        """Records that waited while the sender held the disk are on disk as soon as it lets go, without another
        logging call or sender round (a sender retrying a batch against a dead broker may not come back soon)."""
        queue, spool = make_queue()
        reader = reading_in_background(queue, spool)
        for seq in range(3):
            queue.put(message(seq))
        assert queue.pending()[:2] == (3, 3 * (3 + RECORD_OVERHEAD))  # b"a:N" each
        spool.gate.set()
        reader.join(10)
        assert queue.pending() == (0, 0, 0, 3)

    def test_full_waiting_list_waits_for_the_disk_and_drops_nothing(self, make_queue: Any) -> None:
        """Past queue_max_records waiting, a logging call waits for the disk instead of dropping."""
        queue, spool = make_queue(queue_max_records=2)
        reader = reading_in_background(queue, spool)
        queue.put(message(0))
        queue.put(message(1))
        third = threading.Thread(target=queue.put, args=(message(2),))
        third.start()
        third.join(0.2)
        assert third.is_alive()  # waiting for the disk
        spool.gate.set()
        third.join(10)
        reader.join(10)
        assert not third.is_alive()
        assert drain(queue) == [b"a:0", b"a:1", b"a:2"]
        assert queue.ledger.counters.dropped == {}

    def test_threads_keep_their_own_order_under_contention(self, make_queue: Any) -> None:
        """Two logging threads and a reader: every record once, each thread's in order."""
        queue, _ = make_queue(queue_max_records=50)
        stop = threading.Event()
        read: list[bytes] = []

        def sender() -> None:
            while not stop.is_set() or not queue.empty():
                read.extend(drain(queue))

        def writer(name: str) -> None:
            for seq in range(3_000):
                queue.put(message(seq, name))

        reader = threading.Thread(target=sender)
        reader.start()
        writers = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join()
        stop.set()
        reader.join(30)
        for name in ("a", "b"):
            mine = [int(v.split(b":")[1]) for v in read if v.startswith(name.encode())]
            assert mine == list(range(3_000))
        assert queue.ledger.counters.dropped == {}


class TestStop:
    def test_stop_writes_waiting_records_to_disk(self, make_queue: Any, tmp_path: Path) -> None:
        """Records still waiting in memory at stop go to disk, for the next process."""
        queue, spool = make_queue()
        reader = reading_in_background(queue, spool)
        for seq in range(5):
            queue.put(message(seq))
        spool.gate.set()
        reader.join(10)
        queue.stop()
        assert queue.put(message(9)) == "closed"
        with DiskSpool(str(tmp_path / "spool"), rescan_interval=0) as after:
            batch = after.read(100)
            assert batch is not None
            assert [m.value for m in batch.messages] == [f"a:{n}".encode() for n in range(5)]

    def test_pending_counts_waiting_and_disk(self, make_queue: Any) -> None:
        """pending() = (waiting, waiting bytes, being written, on disk); all settle to 0 once delivered."""
        queue, spool = make_queue()
        queue.put(message(0))
        reader = reading_in_background(queue, spool)
        queue.put(message(1))
        assert queue.pending() == (1, 3 + RECORD_OVERHEAD, 0, 1)
        spool.gate.set()
        reader.join(10)
        drain(queue)
        assert queue.pending() == (0, 0, 0, 0)
        assert queue.settled_through(queue.ledger.counters.enqueued)


class BrokenDisk(GatedSpool):
    """A spool whose disk refuses every write, as a full disk would."""

    def append(self, messages: Any) -> SpoolAppend:
        self._index.last_error = "spool append: [Errno 28] No space left on device"
        return SpoolAppend(0, len(messages), failed=len(messages))


class TestDropReasons:
    def test_disk_error_counts_spool_error_and_reports_it(self, tmp_path: Path) -> None:
        """A write the disk refuses is dropped as spool_error (not spool_full), with the disk's error reported."""
        config = KafkaLogConfig(bootstrap_servers="127.0.0.1:9", topic="t", transport=MemoryTransport(),
                                spool_dir=str(tmp_path), handle_sigterm=False)
        reports: list[tuple[str, str]] = []
        queue = SpoolQueue(config, BrokenDisk(str(tmp_path)), Ledger(), lambda: None,
                           lambda kind, text: reports.append((kind, text)))
        queue.put(message(0))
        queue.stop()
        assert dict(queue.ledger.counters.dropped) == {"spool_error": 1}
        assert queue.pending() == (0, 0, 0, 0)
        assert reports and reports[0][0] == "spool_error" and "No space left" in reports[0][1]

    def test_full_spool_counts_spool_full(self, tmp_path: Path) -> None:
        """drop_newest at max_bytes: refused records are spool_full, the stored ones pending."""
        config = KafkaLogConfig(bootstrap_servers="127.0.0.1:9", topic="t", transport=MemoryTransport(),
                                spool_dir=str(tmp_path), handle_sigterm=False)
        spool = DiskSpool(str(tmp_path), max_bytes=4096, segment_bytes=2048, full_policy="drop_newest")
        queue = SpoolQueue(config, spool, Ledger(), lambda: None, lambda kind, text: None)
        for seq in range(200):
            queue.put(message(seq))
        counters = queue.ledger.counters
        assert set(counters.dropped) == {"spool_full"}
        assert counters.spooled + counters.dropped["spool_full"] == 200
        assert queue.pending()[3] == counters.spooled
        queue.stop()


class TestThroughTheHandler:
    """The spool under a KafkaHandler with a scripted transport (no broker)."""

    @staticmethod
    def handler(tmp_path: Path, transport: MemoryTransport, **options: Any) -> Any:
        from kafkalog import KafkaHandler

        return KafkaHandler("127.0.0.1:9", lambda event: event["fields"].get("topic", "good"), transport=transport,
                            spool_dir=str(tmp_path / "spool"), handle_sigterm=False, on_error=lambda text: None,
                            error_interval=0, retry_backoff=0.01, retry_backoff_max=0.05, linger=0, **options)

    def test_denied_topic_does_not_hold_up_the_rest(self, tmp_path: Path) -> None:
        """A record to a topic the credentials may not write to is dropped as not_authorized; the records behind
        it are delivered (the spool keeps records only through outages)."""
        from kafkalog.errors import DeliveryError

        def outcome(msg: Message) -> BaseException | None:
            return DeliveryError("not_authorized", "denied", retriable=False) if msg.topic == "denied" else None

        transport = MemoryTransport(outcome=outcome)
        handler = self.handler(tmp_path, transport)
        log = logging.Logger("hol")
        log.addHandler(handler)
        log.info("bad", extra={"topic": "denied"})
        for i in range(50):
            log.info("good %d", i)
        assert handler.flush(10), handler.stats()
        stats = handler.stats()
        handler.close(1)
        assert (stats.delivered, stats.dropped) == (50, {"not_authorized": 1})
        assert len(transport.messages) == 50

    def test_failing_record_in_a_batch_that_got_through_times_out(self, tmp_path: Path) -> None:
        """A retriable error for one record while the rest of its batch is delivered: retried until
        delivery_timeout, then dropped as delivery_timeout (not kept forever ahead of everything else)."""
        from kafkalog.errors import DeliveryError

        def outcome(msg: Message) -> BaseException | None:
            return DeliveryError("timeout", "no metadata", retriable=True) if msg.topic == "missing" else None

        transport = MemoryTransport(outcome=outcome)
        handler = self.handler(tmp_path, transport, delivery_timeout=0.5, batch_max_records=100)
        log = logging.Logger("mixed")
        log.addHandler(handler)
        for i in range(20):
            log.info("rec %d", i, extra={"topic": "missing"} if i == 3 else {})
        assert handler.flush(10), handler.stats()
        stats = handler.stats()
        handler.close(1)
        assert (stats.delivered, stats.dropped) == (19, {"delivery_timeout": 1})

    def test_broker_gone_again_after_part_of_a_batch_got_through_keeps_the_rest(self, tmp_path: Path) -> None:
        """Part of a batch delivered, then the broker goes away again (timeouts for the same topic) for longer
        than delivery_timeout: the rest is kept and delivered when the broker is back, nothing dropped."""
        from kafkalog.errors import DeliveryError

        gone = DeliveryError("timeout", "Expiring 10 record(s): 3000 ms has passed", retriable=True)
        gate = threading.Event()
        state: dict[str, Any] = {"back_at": None, "split": 0}

        class GoneAgain(MemoryTransport):
            def send(self, messages: Any, timeout: float) -> Any:
                gate.wait(10)  # until every record is logged: the next batch holds several
                if state["back_at"] is None and len(messages) >= 2:  # half of a batch gets through, then gone
                    half = len(messages) // 2
                    state["back_at"], state["split"] = time.monotonic() + 1.5, half
                    return super().send(messages[:half], timeout) + [gone] * (len(messages) - half)
                if state["back_at"] is not None and time.monotonic() < state["back_at"]:
                    return [gone] * len(messages)
                return super().send(messages, timeout)

        transport = GoneAgain()
        handler = self.handler(tmp_path, transport, delivery_timeout=0.3, batch_max_records=100)
        log = logging.Logger("gone-again")
        log.addHandler(handler)
        for i in range(20):
            log.info("rec %d", i)
        gate.set()
        assert handler.flush(10), handler.stats()
        stats = handler.stats()
        handler.close(1)
        assert state["split"] > 0, "no batch was split"
        assert (stats.delivered, stats.dropped) == (20, {})
        assert sorted(m.value.count(b"rec") for m in transport.messages) == [1] * 20

    def test_unexpected_exception_does_not_stop_the_spool(self, tmp_path: Path) -> None:
        """A transport bug (send raising a non-DeliveryError oddly) is reported; the worker goes on delivering."""
        calls = {"n": 0}

        class Flaky(MemoryTransport):
            def send(self, messages: Any, timeout: float) -> Any:
                calls["n"] += 1
                if calls["n"] == 1:
                    return None  # not a list: the sender cannot use it
                return super().send(messages, timeout)

        transport = Flaky()
        handler = self.handler(tmp_path, transport)
        log = logging.Logger("flaky")
        log.addHandler(handler)
        for i in range(10):
            log.info("rec %d", i)
        assert handler.flush(10), handler.stats()
        stats = handler.stats()
        handler.close(1)
        assert (stats.delivered, stats.dropped, stats.worker_alive) == (10, {}, True)
        assert len(transport.messages) == 10


class TestBlockPolicy:
    """spool_full_policy="block": a full spool makes put wait for room, never drop (what `kafkalog tail` uses)."""

    @staticmethod
    def make_small(tmp_path: Path) -> tuple[SpoolQueue, GatedSpool]:
        config = KafkaLogConfig(bootstrap_servers="127.0.0.1:9", topic="t", transport=MemoryTransport(),
                                spool_dir=str(tmp_path / "spool"), handle_sigterm=False, max_message_bytes=1024,
                                queue_max_bytes=2048, spool_segment_bytes=2048, spool_max_bytes=4096,
                                spool_full_policy="block")
        spool = GatedSpool(str(tmp_path / "spool"), max_bytes=4096, segment_bytes=2048, full_policy="block",
                           rescan_interval=0)
        return SpoolQueue(config, spool, Ledger(), lambda: None, lambda kind, text: None), spool

    def test_full_spool_makes_put_wait_and_nothing_is_dropped(self, tmp_path: Path) -> None:
        """Puts past spool_max_bytes wait until the sender commits; every record arrives, in order, none dropped."""
        queue, spool = self.make_small(tmp_path)
        values = [f"{i:04d}".encode() * 100 for i in range(40)]  # 400 bytes each: ~10 fill the spool
        thread = threading.Thread(target=lambda: [queue.put(Message("t", None, v, 0)) for v in values])
        thread.start()
        counters = queue.ledger.counters
        try:
            wait_until(lambda: counters.seen == counters.enqueued + 1, message="put never waited for room")
            assert thread.is_alive() and counters.enqueued < len(values)
            assert spool.disk_bytes() <= 4096
            got: list[bytes] = []
            while thread.is_alive() or not queue.empty():
                got.extend(drain(queue))
        finally:
            thread.join(10)
        got.extend(drain(queue))
        assert got == values
        assert not counters.dropped and spool.dropped_full == 0
        queue.stop()

    def test_put_writes_to_disk_itself(self, tmp_path: Path) -> None:
        """Under "block" a record never waits in memory, even while the sender holds the disk: on disk at return."""
        queue, spool = self.make_small(tmp_path)
        reader = reading_in_background(queue, spool)
        seen: list[tuple[int, int, int, int]] = []
        putter = threading.Thread(target=lambda: (queue.put(message(0)), seen.append(queue.pending())))
        putter.start()
        spool.gate.set()
        putter.join(10)
        reader.join(10)
        assert seen and seen[0][0] == 0, f"the record waited in memory: {seen}"
        assert drain(queue) == [b"a:0"]
        queue.stop()

    def test_close_releases_a_waiting_put(self, tmp_path: Path) -> None:
        """A put waiting for room returns (counted as closed) once the worker closes."""
        queue, _ = self.make_small(tmp_path)
        results: list[str] = []
        value = b"x" * 400
        thread = threading.Thread(target=lambda: results.extend(
            queue.put(Message("t", None, value, 0)) for _ in range(40)))
        thread.start()
        counters = queue.ledger.counters
        wait_until(lambda: counters.seen == counters.enqueued + 1, message="put never waited for room")
        with queue.ledger.lock:
            queue.ledger.closed = True
            queue.ledger.changed.notify_all()
        thread.join(10)
        assert not thread.is_alive()
        assert "closed" in results and counters.dropped["closed"] >= 1
        queue.stop()

    def test_put_many_waits_for_room_for_the_whole_batch_and_drops_nothing(self, tmp_path: Path) -> None:
        """put_many (kafkalog tail: one chunk read) writes a batch at once, after waiting for room for all of it;
        every record arrives once, in order, none dropped, and the spool never goes past its bound."""
        queue, spool = self.make_small(tmp_path)
        values = [f"{i:04d}".encode() * 10 for i in range(60)]  # 40 bytes each, batches of 3 (under 1 KiB)
        batches = [values[i:i + 3] for i in range(0, len(values), 3)]
        done: list[tuple[int, str]] = []
        thread = threading.Thread(target=lambda: done.extend(
            queue.put_many([Message("t", None, v, 0) for v in batch])
            for batch in batches))
        thread.start()
        counters = queue.ledger.counters
        try:
            wait_until(lambda: counters.seen == counters.enqueued + 3, message="put_many never waited for room")
            assert spool.disk_bytes() <= 4096 and counters.enqueued % 3 == 0
            got: list[bytes] = []
            while thread.is_alive() or not queue.empty():
                got.extend(drain(queue))
        finally:
            thread.join(10)
        got.extend(drain(queue))
        assert got == values
        assert done == [(3, "")] * len(batches)
        assert not counters.dropped and counters.seen == counters.enqueued == len(values)
        queue.stop()

    def test_exit_during_the_wait_counts_the_record(self, tmp_path: Path) -> None:
        """A SystemExit (a signal handler's) raised while a put waits for room: the record is counted as dropped,
        so seen == delivered + dropped + pending still holds."""
        queue, _ = self.make_small(tmp_path)
        for _ in range(8):  # 656 bytes charged each (400 + RECORD_OVERHEAD), ~430 on disk
            assert queue.put(Message("t", None, b"x" * 400, 0)) == ""  # the spool is full now
        counters = queue.ledger.counters
        real_wait = queue.ledger.changed.wait

        def exit_in_wait(timeout: float | None = None) -> bool:
            raise SystemExit

        queue.ledger.changed.wait = exit_in_wait  # type: ignore[method-assign]
        with pytest.raises(SystemExit):
            queue.put(Message("t", None, b"y" * 400, 0))
        queue.ledger.changed.wait = real_wait  # type: ignore[method-assign]
        assert counters.seen == 9 and counters.enqueued == 8 and counters.dropped == {"internal_error": 1}
        queue.stop()

    def test_put_many_refused_whole_when_closed(self, tmp_path: Path) -> None:
        """Closing while a batch waits for room refuses the whole batch (0 handled, counted as closed): the
        caller keeps its offset before the batch and reads it again."""
        queue, _ = self.make_small(tmp_path)
        value = b"x" * 400
        filler = [Message("t", None, value, 0)] * 8
        assert queue.put_many(filler) == (8, "")  # two are over a quarter of the spool: one slice each
        results: list[tuple[int, str]] = []
        thread = threading.Thread(target=lambda: results.append(
            queue.put_many([Message("t", None, b"y" * 40, 0)] * 3)))
        thread.start()
        counters = queue.ledger.counters
        wait_until(lambda: counters.seen == counters.enqueued + 3, message="put_many never waited for room")
        with queue.ledger.lock:
            queue.ledger.closed = True
            queue.ledger.changed.notify_all()
        thread.join(10)
        assert results == [(0, "closed")] and counters.dropped["closed"] == 3
        queue.stop()
