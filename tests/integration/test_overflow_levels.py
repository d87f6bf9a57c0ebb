"""``overflow`` per level against a real broker: with the broker down and the queue full, DEBUG records are dropped
(counted as queue_full) while ERROR records wait for room; once the broker is back every ERROR record arrives."""

from __future__ import annotations

import threading

import pytest
from kafka_util import read_records
from support import finishes_within, isolated_logger, wait_until

from kafkalog import KafkaHandler
from kafkalog.testing import LocalKafka

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUEUE = 20
FIRST_ERRORS = 200  # one batch goes in flight (batch_max_records), the queue then fills up
DEBUGS = 50
LATE_ERRORS = 30  # logged while the queue is full: each waits for room


def test_errors_wait_for_room_debug_dropped_while_broker_down(private_kafka: LocalKafka) -> None:
    topic = "overflow-levels"
    private_kafka.create_topic(topic)
    private_kafka.kill()
    handler = KafkaHandler(private_kafka.bootstrap, topic, queue_max_records=QUEUE, batch_max_records=100,
                           overflow={"DEBUG": "drop_newest", "ERROR": "block"}, block_timeout=60,
                           delivery_timeout=180, on_error=lambda message: None)
    log = isolated_logger("overflow.levels", handler)
    log.setLevel("DEBUG")
    try:
        seq = 0

        def error() -> None:
            nonlocal seq
            log.error("error %d", seq, extra={"seq": seq})
            seq += 1

        # fill: the worker holds one batch (it cannot deliver it), the queue the next QUEUE records; the rest wait
        filler = threading.Thread(target=lambda: [error() for _ in range(FIRST_ERRORS)], daemon=True)
        filler.start()
        # both, or a worker slow to start (a busy machine) takes the full queue as its batch after the wait,
        # and DEBUG records then find room (a loaded run: 20 of 50 went in)
        wait_until(lambda: (s := handler.stats()).in_flight > 0 and s.queue_depth == QUEUE, 60,
                   "the worker never held a batch with the queue full behind it")

        def debugs() -> None:
            for n in range(DEBUGS):
                log.debug("debug %d", n, extra={"debug": n})

        # the ERROR thread still waits for room (the broker is down): DEBUG calls drop at once, no wait
        finishes_within(30, debugs)
        assert handler.stats().dropped == {"queue_full": DEBUGS}
        assert filler.is_alive() and handler.stats().delivered == 0
        private_kafka.restart()
        filler.join(90)
        assert not filler.is_alive(), handler.stats()
        finishes_within(90, lambda: [error() for _ in range(LATE_ERRORS)])
        assert handler.flush(120), handler.stats()
        stats = handler.stats()
    finally:
        handler.close(5)
    errors = FIRST_ERRORS + LATE_ERRORS
    assert (stats.delivered, stats.dropped) == (errors, {"queue_full": DEBUGS}), stats
    records = [r.json() for r in read_records(private_kafka.bootstrap, topic, errors, timeout=60)]
    seqs = [r["fields"]["seq"] for r in records]
    assert sorted(seqs) == list(range(errors)) and len(set(seqs)) == errors
    assert {r["type"] for r in records} == {"error"}
