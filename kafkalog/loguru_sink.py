"""``KafkaSink``: a loguru sink, ``logger.add(KafkaSink(...))``.

loguru calls ``write`` for each message and ``stop`` on ``logger.remove()``; it would also call a ``flush``
method after *every* message, which is why waiting for delivery is spelled :meth:`KafkaSink.drain` here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from ._intake import Intake, is_client_logger
from ._signature import EMPTY, checked_names, config_from
from ._stats import Stats
from ._worker import CloseReport
from .config import KafkaLogConfig, Overflow, Oversize, Schema
from .errors import Reason
from .flood import RateLimit
from .redact import Redact
from .typing import ErrorSink, KeyChooser, TopicChooser

# loguru's own options of ``logger.add(sink, ...)``: given to the sink, each says where it belongs
_LOGURU_ADD = {name: f"an option of loguru's logger.add, not of KafkaSink: logger.add(KafkaSink(...), {name}=...)"
               for name in ("level", "filter", "backtrace", "diagnose", "enqueue", "catch", "context", "loop")}
_LOGURU_ADD.update({name: f"an option of loguru's logger.add, and no use with KafkaSink: the sink ships loguru's "
                          f"record as JSON itself, whatever logger.add's {name}= makes of the text"
                    for name in ("format", "serialize", "colorize")})


def not_from_kafka_client(record: Mapping[str, Any]) -> bool:
    """A loguru ``filter=`` that keeps kafka-python's records (intercepted from stdlib) out of a sink early."""
    return not is_client_logger(str(record["name"] or ""))


class KafkaSink:
    """Ships loguru messages to Kafka as JSON records from a background thread; ``write`` never blocks or raises."""

    @checked_names("KafkaSink", _LOGURU_ADD)
    def __init__(  # every option of KafkaLogConfig, in step with it (tests/unit/test_signatures.py)
            self, bootstrap_servers: str | Sequence[str] | None = None, topic: str | TopicChooser | None = None, *,
            config: KafkaLogConfig | None = None,
            key: str | KeyChooser | None = None, static_fields: Mapping[str, Any] = EMPTY,
            default_action: str = "log", hostname: str | None = None,
            transport: str | Callable[..., Any] = "kafka-python", producer_config: Mapping[str, Any] = EMPTY,
            queue_max_records: int = 100_000, queue_max_bytes: int = 67_108_864,
            overflow: Overflow | Mapping[str | int, Overflow] = "drop_newest", block_timeout: float = 0.05,
            batch_max_records: int = 500, linger: float = 0.05, retry_backoff: float = 0.1,
            retry_backoff_max: float = 5.0, delivery_timeout: float = 120.0, close_timeout: float = 5.0,
            flush_timeout: float = 5.0, max_message_bytes: int = 1_000_000, oversize: Oversize = "truncate",
            schema: Schema = "kafkalog", on_error: ErrorSink | None = None, error_interval: float = 60.0,
            handle_sigterm: bool = True, spool_dir: str | None = None, spool_max_bytes: int = 268_435_456,
            spool_segment_bytes: int = 16_777_216,
            spool_full_policy: Literal["drop_oldest", "drop_newest", "block"] = "drop_oldest",
            spool_fsync: bool = False, trace_ids: bool = True,
            headers: Mapping[str, str | bytes] | Sequence[str] | None = None,
            redact: str | Sequence[str] | Mapping[str, Any] | Redact | None = None,
            rate_limit: RateLimit | Mapping[str, Any] | None = None, levels_from: str | None = None,
            collector: str | None = None, prefork_collector: bool = False,
            security_protocol: str | None = None,
            sasl_mechanism: str | None = None, sasl_username: str | None = None, sasl_password: str | None = None,
            ssl_ca_file: str | os.PathLike[str] | None = None, ssl_cert_file: str | os.PathLike[str] | None = None,
            ssl_key_file: str | os.PathLike[str] | None = None, ssl_key_password: str | None = None,
            compression: str | None = None, acks: int | str | None = None, producer_linger: float | None = None,
            producer_batch_bytes: int | None = None,
    ) -> None:
        self._intake = Intake(config_from(locals()))
        self.close_report: CloseReport | None = None
        self._format_seen = False
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
            if not self._format_seen:
                self._say_serialize_is_no_use(message)
            flood = intake.flood
            if flood is not None and not flood.allow(str(record["name"]), record["level"].no,
                                                     (record["file"].path, record["line"]), record,
                                                     record["time"].timestamp()):
                return
            intake.ship(intake.builder.from_loguru(record), record["time"].timestamp(), record["level"].no)
        except Exception as exc:
            intake.drop(Reason.INTERNAL_ERROR, f"could not ship a loguru record: {exc!r}")

    def _say_serialize_is_no_use(self, message: Any) -> None:
        """``logger.add(sink, serialize=True)`` changes only the text, which the sink does not ship: say so once."""
        self._format_seen = True
        if str(message).startswith('{"text": '):
            self._intake.report(Reason.FORMATTER, "logger.add(KafkaSink(...), serialize=True) has no effect: the "
                                                  "sink ships loguru's record as JSON itself; leave serialize out")

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
