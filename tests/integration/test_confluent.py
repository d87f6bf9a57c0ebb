"""transport="confluent" against the real broker: keys, a dead broker, oversized records, fork.

The record contract and per-partition order are checked for both transports in test_stdlib.py.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import Counter
from typing import Any

import pytest
from kafka_util import count_records, read_records
from support import finishes_within, unused_port, wait_until

from kafkalog import KafkaHandler

pytest.importorskip("confluent_kafka")
pytestmark = pytest.mark.integration

_serial = iter(range(1_000_000))


def _logger(handler: logging.Handler, level: int = logging.DEBUG, name: str | None = None) -> logging.Logger:
    """A logger outside logging's registry (no parent, no pytest capture) with only ``handler``."""
    log = logging.Logger(name or f"confluent_it.l{next(_serial)}", level)
    log.propagate = False
    log.addHandler(handler)
    return log


def _invariant(stats: Any) -> None:
    assert stats.seen == stats.delivered + stats.dropped_total + stats.pending, stats


class TestContract:
    def test_key_arrives(self, kafka_bootstrap: str, topic: str) -> None:
        handler = KafkaHandler(kafka_bootstrap, topic, transport="confluent", key="fields.user")
        _logger(handler).info("keyed", extra={"user": "alice"})
        assert handler.flush(30)
        handler.close()
        [record] = read_records(kafka_bootstrap, topic, 1)
        assert record.key == b"alice"


class TestBrokerUnreachable:
    def test_app_never_waits_and_close_is_bounded(self, capfd: pytest.CaptureFixture[str]) -> None:
        """A closed port: construction, 1,000 calls and close(2) return; all dropped as shutdown; librdkafka silent.

        Promises checked: construction and log calls never wait for the broker (bounds of seconds, not a speed
        check: that is in bench/), and close(2) returns within its timeout plus seconds.
        """
        errors: list[str] = []
        handler = finishes_within(10, lambda: KafkaHandler(f"127.0.0.1:{unused_port()}", "nowhere",
                                                           transport="confluent", on_error=errors.append))
        log = _logger(handler, logging.INFO)

        def calls() -> None:
            for i in range(1_000):
                log.info("record %d", i)

        finishes_within(10, calls)
        # let the worker reach the transport and librdkafka fail to connect
        wait_until(lambda: bool(errors), 30, "librdkafka's connection failure was never reported")
        finishes_within(2 + 5, lambda: handler.close(2))
        stats = handler.stats()
        assert stats.delivered == 0
        assert stats.dropped == {"shutdown": 1_000}, stats
        assert stats.pending == 0
        _invariant(stats)
        assert any("brokers are down" in e or "Connection refused" in e for e in errors), errors
        out, err = capfd.readouterr()
        assert "rdkafka" not in err and "rdkafka" not in out, err  # librdkafka's log lines never reach stderr

    def test_flush_fails_fast_while_broker_down(self) -> None:
        """The worker hears 'all brokers down' from librdkafka and fails the batch fast, then retries.

        Each send gives up after ~STALL_GRACE, not after the 65 s delivery timeout: a retry within 30 s shows it.
        """
        errors: list[str] = []
        handler = KafkaHandler(f"127.0.0.1:{unused_port()}", "nowhere", transport="confluent",
                               on_error=errors.append, error_interval=0, delivery_timeout=60)
        log = _logger(handler, logging.INFO)
        log.info("one")
        wait_until(lambda: handler.stats().retried >= 1, 30, f"no retry: {handler.stats()}")
        stats = handler.stats()
        handler.close(0.5)
        assert not stats.connected
        assert stats.last_error is not None and "broker" in stats.last_error


class TestMessageTooLarge:
    @pytest.mark.parametrize(("producer_config", "size", "where"), [
        ({"message.max.bytes": 20_000}, 50_000, "client"),
        ({"message.max.bytes": 5_000_000}, 2_000_000, "broker"),  # the broker's limit is ~1 MB
    ])
    def test_oversized_record_counted_with_reason(self, kafka_bootstrap: str, topic: str,
                                                  producer_config: dict[str, Any], size: int, where: str) -> None:
        errors: list[str] = []
        handler = KafkaHandler(kafka_bootstrap, topic, transport="confluent", producer_config=producer_config,
                               max_message_bytes=size * 2, on_error=errors.append)
        log = _logger(handler, logging.INFO)
        log.info("small before")
        log.info("x" * size)
        log.info("small after")
        assert handler.flush(30)
        stats = handler.stats()
        handler.close()
        assert stats.delivered == 2, stats
        assert stats.dropped == {"message_too_large": 1}, stats
        _invariant(stats)
        assert any("message_too_large" in e and "MSG_SIZE_TOO_LARGE" in e for e in errors), errors
        assert [r.json()["msg"] for r in read_records(kafka_bootstrap, topic, 2)] == ["small before", "small after"]


def _child_logs(logger_name: str, count: int) -> None:
    log = logging.getLogger(logger_name)
    for i in range(count):
        log.info("child record %d", i, extra={"child_pid": os.getpid(), "i": i})
    handler = log.handlers[0]
    assert isinstance(handler, KafkaHandler)
    handler.close(10)
    stats = handler.stats()
    os._exit(0 if stats.delivered == count and stats.pid == os.getpid() else 3)


class TestFork:
    def test_forked_child_makes_its_own_producer(self, kafka_bootstrap: str, topic: str) -> None:
        """The parent's producer exists before the fork; the child's 100 records go out through a new one."""
        handler = KafkaHandler(kafka_bootstrap, topic, transport="confluent")
        name = f"confluent_it.fork{next(_serial)}"
        log = logging.getLogger(name)  # registered: the child finds it by name
        log.handlers[:] = [handler]
        log.setLevel(logging.INFO)
        log.propagate = False
        try:
            log.info("parent before fork")
            assert handler.flush(30)
            child = multiprocessing.get_context("fork").Process(target=_child_logs, args=(name, 100))
            child.start()
            child.join(60)
            assert child.exitcode == 0
            log.info("parent after fork")
            assert handler.flush(30)
            parent_stats = handler.stats()
        finally:
            handler.close()
            log.handlers[:] = []
        assert (parent_stats.delivered, parent_stats.dropped) == (2, {})
        assert count_records(kafka_bootstrap, topic) == 102
        events = [r.json() for r in read_records(kafka_bootstrap, topic, 102)]
        by_pid = Counter(e["pid"] for e in events)
        assert by_pid[os.getpid()] == 2 and by_pid[child.pid] == 100
        assert sorted(e["fields"]["i"] for e in events if e["pid"] == child.pid) == list(range(100))
