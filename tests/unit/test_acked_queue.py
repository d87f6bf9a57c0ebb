"""AckedQueue (``kafkalog tail`` without its spool): ``acked`` counts only settled records, oldest first; a full
queue makes a put wait (never drop); a batch not finished goes back to the front; closing keeps, never drops."""

from __future__ import annotations

import threading
from collections import Counter

from support import wait_until

from kafkalog import KafkaLogConfig
from kafkalog.buffers import AckedQueue, Ledger
from kafkalog.typing import Message


def _queue(**options: object) -> AckedQueue:
    config = KafkaLogConfig(bootstrap_servers="127.0.0.1:9", topic="t", **options)  # type: ignore[arg-type]
    return AckedQueue(config, Ledger(), lambda: None)


def _messages(start: int, count: int) -> list[Message]:
    return [Message("t", None, b"seq %d" % i, 0) for i in range(start, start + count)]


def test_acked_moves_only_past_finished_batches_in_order() -> None:
    queue = _queue()
    assert queue.put_many(_messages(0, 5)) == (5, "")
    assert queue.put_many(_messages(5, 5)) == (5, "")
    assert queue.accepted == 10
    first = queue.take(3)
    assert first is not None and [m.value for m in first.messages] == [b"seq 0", b"seq 1", b"seq 2"]
    assert queue.take(3) is None  # one batch in flight at a time
    queue.settle(first, 2, Counter({"message_too_large": 1}), 1, 0)
    assert queue.acked() == 0  # settled, not finished
    queue.finish(first, True)
    assert queue.acked() == 3
    second = queue.take(4)
    assert second is not None and [m.value for m in second.messages] == [b"seq 3", b"seq 4", b"seq 5", b"seq 6"]
    queue.finish(second, False)  # an unexpected error or the close deadline: back to the front, not acked
    assert queue.acked() == 3
    again = queue.take(100)
    assert again is not None and [m.value for m in again.messages] == [b"seq %d" % i for i in range(3, 10)]
    queue.settle(again, 7, Counter(), 0, 0)
    queue.finish(again, True)
    assert queue.acked() == 10 and queue.empty()
    counters = queue.ledger.counters
    assert (counters.seen, counters.delivered, dict(counters.dropped)) == (10, 9, {"message_too_large": 1})


def test_a_full_queue_makes_the_put_wait_then_takes_it_whole() -> None:
    queue = _queue(queue_max_records=10)
    queue.put_many(_messages(0, 8))
    done: list[tuple[int, str]] = []
    putter = threading.Thread(target=lambda: done.append(queue.put_many(_messages(8, 5))))
    putter.start()
    taken = queue.take(8)
    assert taken is not None
    assert not done  # 8 in flight + 5 > 10: still waiting, nothing dropped
    queue.settle(taken, 8, Counter(), 0, 0)
    queue.finish(taken, True)
    putter.join(10)
    assert done == [(5, "")] and queue.accepted == 13
    assert not queue.ledger.counters.dropped


def test_closing_refuses_a_waiting_put_and_keeps_what_is_queued() -> None:
    queue = _queue(queue_max_records=4)
    queue.put_many(_messages(0, 4))
    done: list[tuple[int, str]] = []
    putter = threading.Thread(target=lambda: done.append(queue.put_many(_messages(4, 4))))
    putter.start()
    wait_until(lambda: queue.ledger.counters.seen == 8, 10)
    with queue.ledger.lock:
        queue.ledger.closed = True
        queue.ledger.changed.notify_all()
    putter.join(10)
    assert done == [(0, "closed")]  # the caller keeps them (a tail reads them again)
    queue.stop()
    assert queue.pending() == (0, 0, 0, 4) and queue.acked() == 0  # kept by their source, not dropped
    assert dict(queue.ledger.counters.dropped) == {"closed": 4}
