"""kafkalog: ship Python log records (stdlib logging and loguru) to Apache Kafka as JSON.

Importing kafkalog imports no Kafka client and not loguru: they are loaded where used.
"""

from __future__ import annotations

from ._stats import Stats
from ._worker import CloseReport
from .config import KafkaLogConfig
from .errors import ConfigError, ConfigTypeError, DeliveryError, KafkaLogError, MissingDependencyError
from .formatter import KafkaJsonFormatter
from .handler import KafkaHandler
from .loguru_sink import KafkaSink, not_from_kafka_client
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
    "KafkaSink",
    "Message",
    "MissingDependencyError",
    "Stats",
    "Transport",
    "__version__",
    "not_from_kafka_client",
]
__version__ = "0.1.0"
