"""``overflow`` per level (kafkalog._overflow): how the mapping is read, and what a full queue does with records of
each level, through the worker, KafkaHandler and KafkaSink, with a transport stuck until a test releases it."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from kafkalog import KafkaHandler, KafkaLogConfig, KafkaSink
from kafkalog._overflow import OverflowPolicy
from kafkalog._worker import Worker
from kafkalog.errors import ConfigError, ConfigTypeError

from .conftest import BOOTSTRAP, GatedTransport, assert_invariant, finishes_within, message, wait_until

Gated = Callable[..., GatedTransport]
PER_LEVEL = {"DEBUG": "drop_newest", "ERROR": "block"}


class TestPolicy:
    @pytest.mark.parametrize(("level", "policy"), [
        (0, "drop_newest"), (5, "drop_newest"), (10, "drop_newest"), (20, "drop_oldest"), (39, "drop_oldest"),
        (40, "block"), (50, "block"), (99, "block")])
    def test_thresholds(self, level: int, policy: str) -> None:
        """Each entry applies from its level up to the next entry; below the lowest, drop_newest."""
        chosen = OverflowPolicy({"debug": "drop_newest", "INFO": "drop_oldest", 40: "block"})
        assert chosen.for_level(level) == policy

    def test_below_lowest_entry_is_drop_newest(self) -> None:
        assert OverflowPolicy({"ERROR": "block"}).for_level(logging.WARNING) == "drop_newest"
        assert OverflowPolicy({"ERROR": "block", 0: "drop_oldest"}).for_level(logging.WARNING) == "drop_oldest"

    def test_loguru_and_custom_level_names(self) -> None:
        logging.addLevelName(35, "NOTICE_KL_TEST")
        chosen = OverflowPolicy({"TRACE": "drop_oldest", "SUCCESS": "block", "notice_kl_test": "drop_newest"})
        assert [chosen.for_level(n) for n in (5, 24, 25, 34, 35)] == [
            "drop_oldest", "drop_oldest", "block", "block", "drop_newest"]

    def test_plain_policy_for_every_level(self) -> None:
        assert {OverflowPolicy("block").for_level(n) for n in (0, 10, 50)} == {"block"}

    @pytest.mark.parametrize(("value", "error", "says"), [
        ({"ERROR": "wait"}, ConfigError, "overflow['ERROR']: 'wait' is not one of"),
        ({"LOUD": "block"}, ConfigError, "overflow: 'LOUD' is not a level name"),
        ({"WARN": "block", "WARNING": "drop_newest"}, ConfigError, "listed twice"),
        ({}, ConfigError, "empty mapping"),
        ({1.5: "block"}, ConfigTypeError, "a level must be"),
        ({True: "block"}, ConfigTypeError, "a level must be"),
        ({-1: "block"}, ConfigError, "negative"),
        ("block_forever", ConfigError, "overflow: 'block_forever' is not one of"),
        (["block"], ConfigError, "overflow: ['block'] is not one of"),
    ])
    def test_bad_values_raise_at_construction(self, value: Any, error: type[Exception], says: str) -> None:
        with pytest.raises(error) as raised:
            KafkaLogConfig(bootstrap_servers=BOOTSTRAP, topic="t", transport="memory", overflow=value)
        assert says in str(raised.value)

    def test_config_keeps_the_mapping_and_shows_it(self) -> None:
        config = KafkaLogConfig(bootstrap_servers=BOOTSTRAP, topic="t", transport="memory", overflow=PER_LEVEL)
        assert config.overflow == PER_LEVEL
        assert "overflow={'DEBUG': 'drop_newest', 'ERROR': 'block'}" in repr(config)
        assert repr(config.overflow_policy) == "{'DEBUG': 'drop_newest', 'ERROR': 'block'}"


def _stuck(worker: Worker, transport: GatedTransport) -> None:
    assert worker.put(message(b'{"n":"first"}'))
    assert transport.entered.wait(5)


def _put_in_thread(worker: Worker, level: int) -> tuple[threading.Thread, list[bool]]:
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(worker.put(message(), level)), daemon=True)
    thread.start()
    return thread, result


class TestWorker:
    def test_error_waits_for_room_debug_is_dropped(self, make_worker: Callable[..., Worker], gated: Gated) -> None:
        """Queue full: a DEBUG record is dropped at once (queue_full); an ERROR one waits, and is queued when the
        transport frees room (block_timeout is far longer than the test)."""
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=2, overflow=PER_LEVEL, block_timeout=60)
        _stuck(worker, transport)
        assert worker.put(message(), logging.INFO) and worker.put(message(), logging.INFO)
        assert finishes_within(5, lambda: worker.put(message(), logging.DEBUG)) is False
        thread, result = _put_in_thread(worker, logging.ERROR)
        thread.join(0.3)
        assert thread.is_alive() and result == []  # waiting for room, not dropped
        transport.gate.set()
        thread.join(10)
        assert result == [True]
        assert worker.flush(10)
        stats = worker.stats()
        assert (stats.delivered, stats.dropped) == (4, {"queue_full": 1})
        assert_invariant(stats)

    def test_error_gives_up_after_block_timeout(self, make_worker: Callable[..., Worker], gated: Gated) -> None:
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=1, overflow=PER_LEVEL, block_timeout=0.2)
        _stuck(worker, transport)
        worker.put(message(), logging.INFO)
        assert finishes_within(0.2 + 10, lambda: worker.put(message(), logging.CRITICAL)) is False
        assert worker.stats().dropped == {"queue_full": 1}

    def test_close_ends_a_block_wait_counted_as_closed(self, make_worker: Callable[..., Worker],
                                                       gated: Gated) -> None:
        """An ERROR record waiting for room when close() begins is refused as ``closed``, not ``queue_full``."""
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=1, overflow=PER_LEVEL, block_timeout=60)
        _stuck(worker, transport)
        worker.put(message(), logging.INFO)
        thread, result = _put_in_thread(worker, logging.ERROR)
        thread.join(0.3)
        assert thread.is_alive() and result == []  # waiting for room
        worker.begin_close(0.1)
        thread.join(10)
        assert result == [False]
        assert worker.stats().dropped == {"closed": 1}

    def test_drop_oldest_for_errors_evicts_queued_records(self, make_worker: Callable[..., Worker],
                                                          gated: Gated) -> None:
        """{"INFO": "drop_newest", "ERROR": "drop_oldest"}: an ERROR record makes room; an INFO record does not."""
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=2,
                             overflow={"INFO": "drop_newest", "ERROR": "drop_oldest"})
        _stuck(worker, transport)
        info = [message(f'{{"info":{n}}}'.encode()) for n in range(3)]
        error = message(b'{"error":0}')
        assert [worker.put(m, logging.INFO) for m in info] == [True, True, False]
        assert worker.put(error, logging.ERROR)
        transport.gate.set()
        assert worker.flush(10)
        assert transport.messages[1:] == [info[1], error]
        assert worker.stats().dropped == {"queue_full": 2}


def _blocked_calls(log_debug: Callable[[], None], log_error: Callable[[], None], stats: Callable[[], Any],
                   transport: GatedTransport) -> None:
    """With the queue full: the DEBUG call returns at once and is counted; the ERROR call waits for room."""
    assert finishes_within(5, log_debug) is None
    assert stats().dropped == {"queue_full": 1}
    done = threading.Event()
    thread = threading.Thread(target=lambda: (log_error(), done.set()), daemon=True)
    thread.start()
    assert not done.wait(0.3)  # waits: block_timeout is 60 s
    transport.gate.set()
    assert done.wait(10)
    assert wait_until(lambda: stats().delivered == 4)
    assert stats().dropped == {"queue_full": 1}


def test_handler_passes_the_record_level(make_handler: Callable[..., KafkaHandler], gated: Gated) -> None:
    transport = gated()
    handler = make_handler(transport=transport, queue_max_records=2, overflow=PER_LEVEL, block_timeout=60)
    log = logging.getLogger(f"overflow-levels.{uuid.uuid4().hex[:8]}")
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.info("first")
    assert transport.entered.wait(5)
    log.info("queued 1")
    log.info("queued 2")
    _blocked_calls(lambda: log.debug("dropped"), lambda: log.error("kept"), handler.stats, transport)
    texts = [json.loads(v)["msg"] for v in transport.values()]
    assert texts == ["first", "queued 1", "queued 2", "kept"]


def test_sink_passes_the_loguru_level(make_sink: Callable[..., KafkaSink], gated: Gated) -> None:
    loguru = pytest.importorskip("loguru")
    transport = gated()
    sink = make_sink(transport=transport, queue_max_records=2, overflow={"TRACE": "drop_newest", "ERROR": "block"},
                     block_timeout=60)
    logger = loguru.logger
    sink_id = logger.add(sink, level="TRACE", format="{message}")
    try:
        logger.info("first")
        assert transport.entered.wait(5)
        logger.success("queued 1")
        logger.warning("queued 2")
        _blocked_calls(lambda: logger.trace("dropped"), lambda: logger.error("kept"), sink.stats, transport)
    finally:
        logger.remove(sink_id)
    assert [json.loads(v)["msg"] for v in transport.values()] == ["first", "queued 1", "queued 2", "kept"]
