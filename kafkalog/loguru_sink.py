"""``KafkaSink``: a loguru sink, ``logger.add(KafkaSink(...))``.

loguru calls ``write`` for each message and ``stop`` on ``logger.remove()``; it would also call a ``flush``
method after *every* message, which is why waiting for delivery is spelled :meth:`KafkaSink.drain` here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._intake import Intake, is_client_logger
from ._signature import checked_names, config_from
from ._stats import Stats
from ._worker import CloseReport
from .config import KafkaLogConfig
from .errors import Reason
from .options import KafkaOptions
from .typing import TopicChooser

if TYPE_CHECKING:  # only in annotations (typing.Unpack is 3.11+)
    from typing_extensions import Unpack

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
    def __init__(  # the options: kafkalog/options.py
            self, bootstrap_servers: str | Sequence[str] | None = None, topic: str | TopicChooser | None = None, *,
            config: KafkaLogConfig | None = None,
            **options: Unpack[KafkaOptions],
    ) -> None:
        self._intake = Intake(config_from(bootstrap_servers, topic, config, options))
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
