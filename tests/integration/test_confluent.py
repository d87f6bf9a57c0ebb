"""transport="confluent" against the real broker: the record contract, order, a dead broker, oversized records, fork."""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import socket
import time
from collections import Counter
from typing import Any

import pytest
from kafka_util import count_records, read_records

from kafkalog import KafkaHandler

pytest.importorskip("confluent_kafka")
pytestmark = pytest.mark.integration

CONTRACT_KEYS = {"type", "action", "time", "msg", "fields", "funcName", "logger", "host", "pid", "thread", "file",
                 "line"}
_serial = iter(range(1_000_000))


def _logger(handler: logging.Handler, level: int = logging.DEBUG, name: str | None = None) -> logging.Logger:
    """A logger outside logging's registry (no parent, no pytest capture) with only ``handler``."""
    log = logging.Logger(name or f"confluent_it.l{next(_serial)}", level)
    log.propagate = False
    log.addHandler(handler)
    return log


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _parse_time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.utcoffset() == dt.timedelta(0)
    return parsed


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
        """A closed port: 1,000 calls < 1 s, close(2) < 3 s, all dropped as shutdown, librdkafka silent."""
        errors: list[str] = []
        built_at = time.perf_counter()
        handler = KafkaHandler(f"127.0.0.1:{_closed_port()}", "nowhere", transport="confluent",
                               on_error=errors.append)
        built = time.perf_counter() - built_at
        log = _logger(handler, logging.INFO)
        started = time.perf_counter()
        for i in range(1_000):
            log.info("record %d", i)
        calls = time.perf_counter() - started
        time.sleep(0.3)  # let the worker reach the transport and librdkafka fail to connect
        closing = time.perf_counter()
        handler.close(2)
        closed = time.perf_counter() - closing
        stats = handler.stats()
        assert built < 0.5, built
        assert calls < 1.0, calls
        assert closed < 3.0, closed
        assert stats.delivered == 0
        assert stats.dropped == {"shutdown": 1_000}, stats
        assert stats.pending == 0
        _invariant(stats)
        assert any("brokers are down" in e or "Connection refused" in e for e in errors), errors
        out, err = capfd.readouterr()
        assert "rdkafka" not in err and "rdkafka" not in out, err  # librdkafka's log lines never reach stderr

    def test_flush_fails_fast_while_broker_down(self) -> None:
        """The worker hears 'all brokers down' from librdkafka and fails the batch fast, then retries."""
        errors: list[str] = []
        handler = KafkaHandler(f"127.0.0.1:{_closed_port()}", "nowhere", transport="confluent",
                               on_error=errors.append, error_interval=0, delivery_timeout=60)
        log = _logger(handler, logging.INFO)
        log.info("one")
        time.sleep(2.5)
        stats = handler.stats()
        handler.close(0.5)
        assert stats.retried >= 1, stats  # each send gave up after ~STALL_GRACE, not after the 65 s timeout
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
