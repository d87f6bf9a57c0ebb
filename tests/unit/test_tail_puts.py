"""How `kafkalog tail` cuts one read into puts (:mod:`kafkalog.tail._puts`): a quarter of the queue's bounds each."""

from __future__ import annotations

from kafkalog.buffers import RECORD_OVERHEAD
from kafkalog.config import KafkaLogConfig
from kafkalog.tail._puts import Puts


def _puts(acked: bool = True, **options: object) -> Puts:
    return Puts(KafkaLogConfig(bootstrap_servers="localhost:9092", topic="logs", **options), acked)  # type: ignore[arg-type]


def test_a_read_within_a_quarter_of_the_queue_is_one_put() -> None:
    assert _puts(queue_max_records=1_000).cuts([80] * 250, 250) == [250]
    assert _puts().cuts([], 0) == [0]


def test_puts_of_a_quarter_of_queue_max_records() -> None:
    assert _puts(queue_max_records=1_000).cuts([80] * 1_100, 1_100) == [250, 500, 750, 1_000, 1_100]


def test_puts_of_a_quarter_of_queue_max_bytes_and_one_record_at_least() -> None:
    puts = _puts(queue_max_bytes=4 * 1024 * 1024)
    size = 1024 * 1024 - RECORD_OVERHEAD  # one record, with its overhead, is a quarter of the bytes
    assert puts.cuts([size] * 3, 3) == [1, 2, 3]
    assert puts.cuts([2 * 1024 * 1024] * 2, 2) == [1, 2]  # one over the quarter still goes, alone


def test_with_the_spool_a_quarter_of_spool_max_bytes_and_no_record_bound() -> None:
    puts = _puts(acked=False, queue_max_records=1_000, spool_max_bytes=64 * 1024 * 1024)
    # 16 MiB // 300 bytes per record with its overhead
    assert puts.cuts([300 - RECORD_OVERHEAD] * 60_000, 60_000) == [55_924, 60_000]
