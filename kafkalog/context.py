"""Values bound to the current request or task, added to the ``fields`` of every record logged inside it.

Held in one :class:`contextvars.ContextVar`, so each thread and each asyncio task sees its own values: a task
started inside ``bound(...)`` inherits a copy of what was bound then, and nothing it binds leaks back out. The
mapping is never changed in place (each change sets a new dict), so a copy taken by a task stays as it was.
Values given at the call site (``extra=``, loguru's ``bind``, structlog's keyword arguments) win over bound ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_EMPTY: Mapping[str, Any] = {}
_bound: ContextVar[Mapping[str, Any]] = ContextVar("kafkalog_bound", default=_EMPTY)

get_bound = _bound.get
"""The mapping bound in the current context (never change it): what the record builders read on each call."""


def bind(**values: Any) -> None:
    """Add ``values`` to the current context (replacing values of the same names) until unbound or cleared."""
    _bound.set({**_bound.get(), **values})


def unbind(*keys: str) -> None:
    """Remove ``keys`` from the current context; names that are not bound are ignored."""
    current = _bound.get()
    if any(key in current for key in keys):
        _bound.set({k: v for k, v in current.items() if k not in keys})


def clear_context() -> None:
    """Remove every bound value from the current context."""
    _bound.set(_EMPTY)


def get_context() -> dict[str, Any]:
    """A copy of the values bound in the current context."""
    return dict(_bound.get())


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Bind ``values`` for the ``with`` block only; what was bound before is restored at its end, even on error."""
    token = _bound.set({**_bound.get(), **values})
    try:
        yield
    finally:
        try:
            _bound.reset(token)
        except ValueError:  # the block ended in another context (a generator resumed elsewhere): drop ours
            unbind(*values)

