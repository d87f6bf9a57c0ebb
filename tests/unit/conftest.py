"""Shared helpers for the unit tests: memory transports that can be held stuck, and self-closing factories.

Nothing here talks to a network: every handler, sink and worker uses a memory transport and a bootstrap address
("127.0.0.1:9") that is never contacted. They are built with ``handle_sigterm=False`` so the pytest process keeps
its own SIGTERM behaviour; SIGTERM handling is tested in subprocesses (test_worker.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from support import finishes_within, wait_until

from kafkalog import KafkaHandler, KafkaLogConfig, KafkaSink
from kafkalog._worker import Worker
from kafkalog.transports import MemoryTransport
from kafkalog.typing import Message

__all__ = ["finishes_within", "wait_until"]  # re-exported for the unit tests

BOOTSTRAP = "127.0.0.1:9"
CONTRACT_KEYS = frozenset({"type", "action", "time", "msg", "fields", "funcName", "logger", "host", "pid", "thread",
                           "file", "line", "id"})


class RecordingTransport(MemoryTransport):
    """A memory transport that also records the size of each batch it is sent."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batches: list[int] = []

    def send(self, messages: Sequence[Message], timeout: float) -> list[BaseException | None]:
        self.batches.append(len(messages))
        return super().send(messages, timeout)


class GatedTransport(RecordingTransport):
    """A memory transport whose ``send`` waits until ``gate`` is set: a broker that is stuck until released."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def send(self, messages: Sequence[Message], timeout: float) -> list[BaseException | None]:
        self.entered.set()
        self.gate.wait(30)
        return super().send(messages, timeout)


class StuckOpenTransport(MemoryTransport):
    """A memory transport whose ``open`` waits until ``gate`` is set, like a connect to a broker that never answers.

    ``entered`` is set once ``open`` started waiting; ``opened`` stays 0 until the gate is released.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def open(self) -> None:
        self.entered.set()
        self.gate.wait(60)
        super().open()


def unit_config(**options: Any) -> KafkaLogConfig:
    """A config on a memory transport; ``linger=0`` so records go out at once unless a test says otherwise."""
    options.setdefault("transport", MemoryTransport())
    options.setdefault("linger", 0)
    options.setdefault("error_interval", 0)
    options.setdefault("on_error", lambda message: None)
    options.setdefault("handle_sigterm", False)
    return KafkaLogConfig(bootstrap_servers=options.pop("bootstrap_servers", BOOTSTRAP),
                          topic=options.pop("topic", "logs"), **options)


def message(value: bytes = b"{}", key: bytes | None = None, topic: str = "logs") -> Message:
    return Message(topic, key, value, 0)


@pytest.fixture
def gates() -> Iterator[list[threading.Event]]:
    """Gates to open at teardown, so no worker stays stuck after its test."""
    opened: list[threading.Event] = []
    yield opened
    for gate in opened:
        gate.set()


@pytest.fixture
def gated(gates: list[threading.Event]) -> Callable[..., GatedTransport]:
    """Factory of :class:`GatedTransport`, released at teardown."""

    def make(**kwargs: Any) -> GatedTransport:
        transport = GatedTransport(**kwargs)
        gates.append(transport.gate)
        return transport

    return make


@pytest.fixture
def stuck_open(gates: list[threading.Event]) -> Callable[..., StuckOpenTransport]:
    """Factory of :class:`StuckOpenTransport`, released at teardown."""

    def make(**kwargs: Any) -> StuckOpenTransport:
        transport = StuckOpenTransport(**kwargs)
        gates.append(transport.gate)
        return transport

    return make


@pytest.fixture
def make_worker(gates: list[threading.Event]) -> Iterator[Callable[..., Worker]]:
    """Factory: ``make_worker(**options)`` -> a started-on-demand worker, closed at teardown."""
    workers: list[Worker] = []

    def make(**options: Any) -> Worker:
        worker = Worker(unit_config(**options), "unit")
        workers.append(worker)
        return worker

    yield make
    for gate in gates:
        gate.set()
    for worker in workers:
        worker.close(0.2)


@pytest.fixture
def make_handler(gates: list[threading.Event]) -> Iterator[Callable[..., KafkaHandler]]:
    """Factory: ``make_handler(**options)`` -> a KafkaHandler on a memory transport, closed at teardown."""
    handlers: list[KafkaHandler] = []

    def make(**options: Any) -> KafkaHandler:
        options.setdefault("transport", MemoryTransport())
        options.setdefault("linger", 0)
        options.setdefault("error_interval", 0)
        options.setdefault("on_error", lambda message: None)
        options.setdefault("handle_sigterm", False)
        handler = KafkaHandler(options.pop("bootstrap_servers", BOOTSTRAP), options.pop("topic", "logs"), **options)
        handlers.append(handler)
        return handler

    yield make
    for gate in gates:
        gate.set()
    for handler in handlers:
        handler.close(0.2)


@pytest.fixture
def make_sink(gates: list[threading.Event]) -> Iterator[Callable[..., KafkaSink]]:
    """Factory: ``make_sink(**options)`` -> a KafkaSink on a memory transport, closed at teardown."""
    sinks: list[KafkaSink] = []

    def make(**options: Any) -> KafkaSink:
        options.setdefault("transport", MemoryTransport())
        options.setdefault("linger", 0)
        options.setdefault("error_interval", 0)
        options.setdefault("on_error", lambda message: None)
        options.setdefault("handle_sigterm", False)
        sink = KafkaSink(options.pop("bootstrap_servers", BOOTSTRAP), options.pop("topic", "logs"), **options)
        sinks.append(sink)
        return sink

    yield make
    for gate in gates:
        gate.set()
    for sink in sinks:
        sink.close(0.2)


_logger_serial = iter(range(1_000_000))


@pytest.fixture
def make_logger() -> Callable[..., logging.Logger]:
    """Factory: ``make_logger(*handlers, name=None)`` -> a DEBUG logger with only ``handlers``.

    The logger is built directly, outside ``logging.getLogger``'s registry: it has no parent, so nothing else
    sees its records, and pytest's log capture (which attaches to registered non-propagating loggers and raises
    on formatting errors) never joins it.
    """

    def make(*handlers: logging.Handler, name: str | None = None) -> logging.Logger:
        logger = logging.Logger(name or f"kafkalog_unit.l{next(_logger_serial)}", logging.DEBUG)
        logger.propagate = False
        for handler in handlers:
            logger.addHandler(handler)
        return logger

    return make


@pytest.fixture
def loguru_logger() -> Any:
    """A loguru logger with its own core: handlers added to it never touch the global ``loguru.logger``."""
    pytest.importorskip("loguru")
    from loguru._logger import Core, Logger

    logger = Logger(core=Core(), exception=None, depth=0, record=False, lazy=False, colors=False, raw=False,
                    capture=True, patchers=[], extra={})
    yield logger
    logger.remove()


def assert_invariant(stats: Any) -> None:
    """Every record seen is delivered, dropped (by reason) or pending: nothing lost, nothing counted twice."""
    assert stats.seen == stats.delivered + stats.dropped_total + stats.pending, stats
