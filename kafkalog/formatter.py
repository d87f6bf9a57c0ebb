"""The record contract as a python-json-logger formatter, usable on any handler (e.g. JSON lines to stdout)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from ._encode import dumps
from ._records import RESERVED_KEYS, RecordBuilder
from .errors import ConfigError
from .typing import Event


class KafkaJsonFormatter(JsonFormatter):
    """Formats a ``LogRecord`` as kafkalog's JSON record (type, action, time, msg, fields, ...).

    ``KafkaHandler`` uses the same event builder directly and skips the string round trip; put this formatter
    on a ``StreamHandler`` to get identical JSON on stdout. Override ``process_log_record`` to add or rename
    keys; ``KafkaHandler`` honours it when this formatter is set on the handler.
    """

    def __init__(self, *args: Any, static_fields: Mapping[str, Any] | None = None, default_action: str = "log",
                 hostname: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        static = dict(static_fields or {})
        clash = sorted(RESERVED_KEYS & set(static))
        if clash:
            raise ConfigError(f"static_fields: {clash} are record keys; allowed are any other names")
        self.builder = RecordBuilder(host=hostname or socket.gethostname(), default_action=default_action,
                                     static_fields=static)

    def event(self, record: logging.LogRecord) -> Event:
        """The record as a dict, before ``process_log_record``."""
        return self.builder.from_logging(record)

    def format(self, record: logging.LogRecord) -> str:
        return self.serialize_log_record(self.process_log_record(self.event(record)))

    def serialize_log_record(self, log_data: dict[str, Any]) -> str:
        # kafkalog's encoder never raises (cycles, surrogates, odd types) and matches what KafkaHandler ships
        return self.prefix + dumps(log_data).decode("utf-8")
