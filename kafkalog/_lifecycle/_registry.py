"""The workers of this process that are not closed yet, held weakly: a handler dropped without ``close()`` can
still be collected, and every exit path drains the ones still here."""

from __future__ import annotations

import weakref
from typing import Protocol


class Closable(Protocol):
    def begin_close(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> object: ...

    def reset_after_fork(self) -> None: ...


_live: weakref.WeakSet[Closable] = weakref.WeakSet()


def add(worker: Closable) -> None:
    _live.add(worker)


def untrack(worker: Closable) -> None:
    _live.discard(worker)


def live() -> list[Closable]:  # the workers not closed yet, a snapshot (kafkalog.testing's capture)
    return list(_live)


def any_live() -> bool:
    return bool(_live)
