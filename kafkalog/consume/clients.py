"""Picking the client: each reader module is imported only when asked for (so is its client library)."""

from __future__ import annotations

from .reader import Reader, ReaderSettings


def open_reader(client: str, settings: ReaderSettings) -> Reader:
    """A reader of the named client (``kafka-python`` or ``confluent``), imported only when asked for."""
    if client == "confluent":
        from ._confluent import ConfluentReader

        return ConfluentReader(settings)
    from ._kafka_python import KafkaPythonReader

    return KafkaPythonReader(settings)
