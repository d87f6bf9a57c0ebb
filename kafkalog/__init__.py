"""kafkalog: ship Python log records (stdlib logging, loguru and structlog) to Apache Kafka as JSON.

Importing kafkalog imports no Kafka client, not loguru, structlog or OpenTelemetry: they are loaded where used.
"""

from __future__ import annotations

from ._stats import Stats
from ._worker import CloseReport
from .config import KafkaLogConfig
from .context import bind, bound, clear_context, get_context, unbind
from .errors import ConfigError, ConfigTypeError, DeliveryError, KafkaLogError, MissingDependencyError
from .flood import RateLimit
from .formatter import KafkaJsonFormatter
from .handler import KafkaHandler
from .loguru_sink import KafkaSink, not_from_kafka_client
from .options import KafkaOptions
from .redact import Redact
from .structlog_processor import KafkaProcessor
from .typing import Message, Transport

__all__ = [
    "CloseReport",
    "ConfigError",
    "ConfigTypeError",
    "DeliveryError",
    "KafkaHandler",
    "KafkaJsonFormatter",
    "KafkaLogConfig",
    "KafkaLogError",
    "KafkaOptions",
    "KafkaProcessor",
    "KafkaSink",
    "Message",
    "MissingDependencyError",
    "RateLimit",
    "Redact",
    "Stats",
    "Transport",
    "__version__",
    "bind",
    "bound",
    "clear_context",
    "get_context",
    "not_from_kafka_client",
    "unbind",
]
__version__ = "0.1.0"
