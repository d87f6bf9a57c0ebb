"""Transports: the narrow seam between the background worker and a Kafka client library.

Choose one by name with the ``transport`` option (``"kafka-python"``, ``"confluent"``, ``"memory"``), or pass an
object that follows :class:`kafkalog.Transport`. :class:`MemoryTransport` is the one to use in tests.
"""

from __future__ import annotations

from .memory import MemoryTransport

__all__ = ["MemoryTransport"]
