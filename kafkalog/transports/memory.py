"""An in-process transport for tests: records what it is sent; failures and slowness can be scripted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import DeliveryError, Reason
from ..typing import Message
from ._registry import TransportSpec, _accept_any

Outcome = Callable[[Message], "BaseException | None"]


class MemoryTransport:
    """Keeps delivered messages in ``messages``, every one, for as long as it lives: a test seam, not a sink.

    ``fail_open`` makes the next N ``open`` calls fail (retriably); ``outcome`` decides each message's fate
    (return an exception to fail it); ``delay`` makes every ``send`` take that long, like a slow broker.
    """

    def __init__(self, *, outcome: Outcome | None = None, fail_open: int = 0, delay: float = 0.0) -> None:
        self.messages: list[Message] = []
        self.outcome = outcome
        self.fail_open = fail_open
        self.delay = delay
        self.opened = 0
        self.closed = 0
        self.send_calls = 0
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, settings: Mapping[str, Any]) -> MemoryTransport:
        """Act as its own factory, so ``transport=MemoryTransport()`` hands the worker this instance."""
        return self

    def open(self) -> None:
        self.threads.add(threading.current_thread().name)
        if self.fail_open > 0:
            self.fail_open -= 1
            raise DeliveryError(Reason.BROKER_UNAVAILABLE, "memory transport: scripted open failure", retriable=True)
        self.opened += 1

    def send(self, messages: Sequence[Message], timeout: float) -> list[BaseException | None]:
        self.threads.add(threading.current_thread().name)
        self.send_calls += 1
        if self.delay:
            time.sleep(min(self.delay, timeout))
        results: list[BaseException | None] = []
        for message in messages:
            error = self.outcome(message) if self.outcome else None
            if error is None:
                with self._lock:
                    self.messages.append(message)
            results.append(error)
        return results

    def close(self, timeout: float) -> None:
        self.closed += 1

    def values(self) -> list[bytes]:
        """The delivered values, in order."""
        with self._lock:
            return [m.value for m in self.messages]


SPEC = TransportSpec("memory", _accept_any, lambda settings: MemoryTransport())
