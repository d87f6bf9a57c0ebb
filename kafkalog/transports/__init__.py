"""Transports: the narrow seam between the background worker and a Kafka client library."""

from __future__ import annotations

from .base import TransportSpec, resolve_transport
from .memory import MemoryTransport

__all__ = ["MemoryTransport", "TransportSpec", "resolve_transport"]
