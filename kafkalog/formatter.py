"""The record contract as a python-json-logger formatter, usable on any handler (e.g. JSON lines to stdout)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from ._encode import dumps
from ._records import RecordBuilder
from .config import check_static_fields
from .typing import Event


class KafkaJsonFormatter(JsonFormatter):
    """Formats a ``LogRecord`` as kafkalog's JSON record (type, action, time, msg, fields, ...).

    ``KafkaHandler`` uses the same event builder directly and skips the string round trip; put this formatter
    on a ``StreamHandler`` to get identical JSON on stdout. Override ``process_log_record`` to add or rename
    keys; ``KafkaHandler`` honours it when this formatter is set on the handler (the record is then built by the
    handler, with the handler's ``static_fields`` and host, and passed to the hook).
    """

    def __init__(self, *args: Any, static_fields: Mapping[str, Any] | None = None, default_action: str = "log",
                 hostname: str | None = None, builder: RecordBuilder | None = None, **kwargs: Any) -> None:
        """``static_fields``, ``default_action`` and ``hostname`` as for the handler; a ``builder`` given instead
        (the handler's own) is used as it is."""
        super().__init__(*args, **kwargs)
        self.builder = builder or RecordBuilder(host=hostname or socket.gethostname(), default_action=default_action,
                                                static_fields=check_static_fields(static_fields or {}))

    def event(self, record: logging.LogRecord) -> Event:
        """The record as a dict, before ``process_log_record``."""
        return self.builder.from_logging(record)

    def format(self, record: logging.LogRecord) -> str:
        return self.serialize_log_record(self.process_log_record(self.event(record)))

    def serialize_log_record(self, log_data: dict[str, Any]) -> str:
        # kafkalog's encoder never raises (cycles, surrogates, odd types) and matches what KafkaHandler ships
        return self.prefix + dumps(log_data).decode("utf-8")
