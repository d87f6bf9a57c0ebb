"""The local collector: many processes on one host hand their records to one process that ships them.

``kafkalog collect`` runs it; :class:`Collector` is the library behind the command. Processes hand records over
with the ``collector`` option of :class:`~kafkalog.KafkaHandler` (the transport in
:mod:`kafkalog.transports.collector`). Imported lazily: a process that only hands records over loads the wire
format, never the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._server import Collector, CollectorError, ListenSettings

__all__ = ["Collector", "CollectorError", "ListenSettings"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import _server
        return getattr(_server, name)
    raise AttributeError(name)
