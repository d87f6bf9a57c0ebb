"""``KafkaSink``: a loguru sink, ``logger.add(KafkaSink(...))``.

loguru calls ``write`` for each message and ``stop`` on ``logger.remove()``; it would also call a ``flush``
method after *every* message, which is why waiting for delivery is spelled :meth:`KafkaSink.drain` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._intake import Intake, is_client_logger
from ._stats import Stats
from ._worker import CloseReport
from .config import KafkaLogConfig
from .errors import Reason


def not_from_kafka_client(record: Mapping[str, Any]) -> bool:
    """A loguru ``filter=`` that keeps kafka-python's records (intercepted from stdlib) out of a sink early."""
    return not is_client_logger(str(record["name"] or ""))


class KafkaSink:
    """Ships loguru messages to Kafka as JSON records from a background thread; ``write`` never blocks or raises."""

    def __init__(self, bootstrap_servers: Any = None, topic: Any = None, *, config: KafkaLogConfig | None = None,
                 **options: Any) -> None:
        self._intake = Intake(KafkaLogConfig.from_options(bootstrap_servers, topic, config, options))
        self.close_report: CloseReport | None = None
        if self._intake.flood is not None:
            self._intake.flood.build = self._intake.builder.from_loguru

    @property
    def config(self) -> KafkaLogConfig:
        return self._intake.config

    def write(self, message: Any) -> None:
        """Called by loguru with a formatted message whose ``.record`` is the record to ship."""
        intake = self._intake
        try:
            record = message.record
            if is_client_logger(str(record["name"] or "")) or intake.own_thread():
                return
            flood = intake.flood
            if flood is not None and not flood.allow(str(record["name"]), record["level"].no,
                                                     (record["file"].path, record["line"]), record,
                                                     record["time"].timestamp()):
                return
            intake.ship(intake.builder.from_loguru(record), record["time"].timestamp(), record["level"].no)
        except Exception as exc:
            intake.drop(Reason.INTERNAL_ERROR, f"could not ship a loguru record: {exc!r}")

    def stop(self) -> None:
        """Called by ``logger.remove()``: drain within ``close_timeout``."""
        self.close()

    def close(self, timeout: float | None = None) -> CloseReport:
        """Drain within ``timeout`` (default ``close_timeout``) and stop; returns what was left."""
        self.close_report = self._intake.close(timeout)
        return self.close_report

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until messages written before this call are delivered or dropped; False if ``timeout`` passed."""
        return self._intake.flush(timeout)

    def stats(self) -> Stats:
        return self._intake.stats()

    def __repr__(self) -> str:
        return f"<KafkaSink {self._intake.describe()}>"
