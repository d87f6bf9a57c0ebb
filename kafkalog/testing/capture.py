"""Capturing what kafkalog would ship, without a broker: for fast unit tests of an application's logging.

While a :class:`RecordCapture` is active, every :class:`~kafkalog.KafkaHandler`, :class:`~kafkalog.KafkaSink` and
:class:`~kafkalog.KafkaLogConfig` made with a transport *name* (the default ``"kafka-python"``, ``"confluent"``,
``"memory"``) gets an in-memory transport instead of a Kafka client; a transport object passed in (say a
``MemoryTransport`` scripted to fail) is kept, so a test can still use one for a handler of its own. Everything else is
the real thing: options are checked as usual (a bad ``producer_config`` still raises), records are built, routed,
keyed, encoded and size-limited by the same code, on the same background worker, so the captured bytes are exactly
what would have gone to the broker.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from .. import _lifecycle
from ..transports._registry import override_named_transports
from ..transports.memory import MemoryTransport
from ..typing import Message

__all__ = ["RecordCapture", "capture_records"]

_DEFAULT_TIMEOUT = 5.0


class RecordCapture:
    """Holds the messages shipped by handlers and sinks made while it is active (see :func:`capture_records`).

    ``records()`` gives the JSON objects, ``messages()`` the raw :class:`~kafkalog.Message` (topic, key, value
    bytes, timestamp). Both first wait until every captured handler and sink has handed over what was logged
    before the call, so a test reads them right after logging.
    """

    def __init__(self) -> None:
        self._transport = MemoryTransport()
        self._factory = self._build  # one bound method, compared by identity to find our workers
        self._remove: Callable[[], None] | None = None
        self._lock = threading.Lock()

    # -- activation ----------------------------------------------------------------------------------------

    def start(self) -> RecordCapture:
        """Route every handler, sink and config made from now on into this capture."""
        with self._lock:
            if self._remove is not None:
                raise RuntimeError("this RecordCapture is already active")
            self._remove = override_named_transports(self._factory)  # a test's own transport object is left alone
        return self

    def stop(self) -> None:
        """Stop capturing new handlers and sinks (those already made keep shipping here until closed)."""
        with self._lock:
            if self._remove is not None:
                self._remove()
                self._remove = None

    def __enter__(self) -> RecordCapture:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _build(self, settings: Mapping[str, Any]) -> MemoryTransport:
        return self._transport

    # -- reading ---------------------------------------------------------------------------------------------

    def flush(self, timeout: float = _DEFAULT_TIMEOUT) -> bool:
        """Wait until every captured handler and sink has shipped what it was given; False if ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        ok = True
        for worker in _lifecycle.live():
            worker_config = getattr(worker, "config", None)
            spec = getattr(worker_config, "transport_spec", None)
            if spec is None or spec.factory != self._factory:
                continue
            flush = getattr(worker, "flush", None)
            if flush is not None and not flush(max(0.0, deadline - time.monotonic())):
                ok = False
        return ok

    def messages(self, topic: str | None = None, *, timeout: float = _DEFAULT_TIMEOUT) -> list[Message]:
        """The messages shipped so far (all topics, or one), in the order they were sent."""
        if not self.flush(timeout):
            raise AssertionError(f"kafkalog records still queued after {timeout} s")
        with self._transport._lock:
            shipped = list(self._transport.messages)
        return [m for m in shipped if topic is None or m.topic == topic]

    def records(self, topic: str | None = None, *, timeout: float = _DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
        """The shipped records as the JSON objects a consumer would decode (all topics, or one)."""
        decoded: list[dict[str, Any]] = []
        for message in self.messages(topic, timeout=timeout):
            value = json.loads(message.value)
            if not isinstance(value, dict):
                raise AssertionError(f"a shipped record is not a JSON object (a text formatter on the handler?): "
                                     f"{message.value!r}")
            decoded.append(value)
        return decoded

    def clear(self) -> None:
        """Forget what was captured so far (after waiting for it to arrive, so nothing lands afterwards)."""
        self.flush()
        with self._transport._lock:
            self._transport.messages.clear()

    def __len__(self) -> int:
        return len(self.messages())

    def __repr__(self) -> str:
        state = "active" if self._remove is not None else "stopped"
        return f"<RecordCapture {state}, {len(self._transport.messages)} message(s)>"


def capture_records() -> RecordCapture:
    """A :class:`RecordCapture`, to use as a context manager: ``with capture_records() as captured: ...``."""
    return RecordCapture()
