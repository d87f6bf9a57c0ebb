"""``KafkaHandler``: a stdlib ``logging.Handler`` that ships each record to Kafka as one JSON object."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._intake import CLIENT_LOGGER, Intake
from ._signature import checked_names, config_from
from ._stats import Stats
from ._worker import CloseReport
from .config import KafkaLogConfig
from .errors import ConfigError, Reason
from .formatter import KafkaJsonFormatter
from .options import KafkaOptions
from .typing import TopicChooser

if TYPE_CHECKING:  # only in annotations (typing.Unpack is 3.11+)
    from typing_extensions import Unpack

_CLIENT_PREFIX = CLIENT_LOGGER + "."


def _holding_logging_lock() -> bool:
    """True when this thread holds ``logging``'s module lock (``dictConfig``, ``logging.shutdown(handlers)``).

    Waiting for the worker then could deadlock for the whole timeout: the worker may need that lock (importing
    kafka-python calls ``logging.getLogger``).
    """
    is_owned = getattr(getattr(logging, "_lock", None), "_is_owned", None)
    try:
        return bool(is_owned()) if is_owned is not None else False
    except Exception:
        return False


class KafkaHandler(logging.Handler):
    """Ships log records to a Kafka topic from a background thread; ``emit()`` never blocks or raises.

    ``KafkaHandler("127.0.0.1:9092", "app-logs", static_fields={"service": "billing"})``; every option of
    :class:`~kafkalog.KafkaLogConfig` is accepted by keyword (or pass ``config=``). Works with
    ``logging.config.dictConfig`` and ``fileConfig`` (``args=('host:9092', 'app-logs')``).
    """

    @checked_names("KafkaHandler")
    def __init__(  # the options: kafkalog/options.py
            self, bootstrap_servers: str | Sequence[str] | None = None, topic: str | TopicChooser | None = None, *,
            level: int | str = logging.NOTSET, config: KafkaLogConfig | None = None,
            **options: Unpack[KafkaOptions],
    ) -> None:
        _check_level(level)
        self._intake = Intake(config_from(bootstrap_servers, topic, config, options))
        super().__init__(level)
        self.close_report: CloseReport | None = None
        # Set our own formatter so logging.basicConfig(handlers=[...]) does not put a text formatter on us.
        self._default_formatter = KafkaJsonFormatter(builder=self._intake.builder)
        self.setFormatter(self._default_formatter)
        self._warned_formatter = False
        if self._intake.flood is not None:
            self._intake.flood.build = self._intake.builder.from_logging

    @property
    def config(self) -> KafkaLogConfig:
        return self._intake.config

    def handle(self, record: logging.LogRecord) -> Any:
        """Filter, then emit without the handler lock: emit is thread-safe, and with ``overflow="block"`` the lock
        would make concurrent callers wait behind each other's ``block_timeout``.

        kafka-python's own records and anything logged on the worker's thread are dropped first, before any
        user filter: the client's network thread can never recurse into the handler or wait on it."""
        name = record.name  # is_client_logger and Intake.own_thread, inlined: this runs for every record
        if name == CLIENT_LOGGER or name.startswith(_CLIENT_PREFIX) \
                or record.thread in self._intake.worker.thread_idents:
            return False
        if not self.filters:
            self.emit(record)
            return True
        result: Any = self.filter(record)
        if isinstance(result, logging.LogRecord):  # Python 3.12+: a filter may return a replacement record
            record = result
        if result:
            self.emit(record)
        return result

    def emit(self, record: logging.LogRecord) -> None:
        intake = self._intake
        try:
            flood = intake.flood
            if flood is not None and not flood.allow(record.name, record.levelno, (record.pathname, record.lineno),
                                                     record, record.created):
                return
            formatter = self.formatter
            if formatter is self._default_formatter or formatter is None:
                event: Any = intake.builder.from_logging(record)
            elif isinstance(formatter, KafkaJsonFormatter):  # the handler's record (its static fields and host),
                event = formatter.process_log_record(intake.builder.from_logging(record))  # then the hook
            else:
                event = formatter.format(record)
            intake.ship(event, record.created, record.levelno)
        except Exception:  # counted, then the stdlib's way (logging.raiseExceptions decides what is printed)
            intake.drop(Reason.INTERNAL_ERROR)
            self.handleError(record)

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        """Set the formatter; say once when a foreign one (its output is text) disables key and topic templates."""
        super().setFormatter(fmt)
        if fmt is None or isinstance(fmt, KafkaJsonFormatter) or getattr(self, "_warned_formatter", True):
            return
        config = self._intake.config
        lost = [what for what, used in (("key", config.key_for is not None),
                                        ("topic template", config.fixed_topic is None)) if used]
        if lost:
            self._warned_formatter = True
            self._intake.report(
                Reason.FORMATTER, f"{type(fmt).__module__}.{type(fmt).__qualname__} on the handler produces text, so "
                             f"the {' and '.join(lost)} cannot read record fields (they see none); use "
                             f"kafkalog.KafkaJsonFormatter (override process_log_record) to keep them")

    def flush(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        """Wait until records logged before this call are delivered or dropped; False if ``timeout`` passed.

        Under logging's module lock (``dictConfig`` clearing handlers) it only nudges the worker and never waits.
        """
        if _holding_logging_lock():
            return self._intake.flush(0)
        return self._intake.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Drain within ``timeout`` (default ``close_timeout``) and stop; ``close_report`` says what was left.

        Under logging's module lock (``dictConfig`` replacing handlers) it only begins the close: the worker drains
        as soon as the lock is released, and a helper thread waits for it and reports, so nothing is left silently.
        """
        try:
            if _holding_logging_lock():
                self._close_later(timeout)
            else:
                self.close_report = self._intake.close(timeout)
        finally:
            super().close()

    def _close_later(self, timeout: float | None) -> None:
        worker = self._intake.worker
        if self.close_report is not None or worker.stats().closed:
            return  # already closed, or closing: whoever began it finishes it
        worker.begin_close(timeout)

        def finish() -> None:
            self.close_report = self._intake.close(timeout)

        try:
            threading.Thread(target=finish, name="kafkalog-close", daemon=True).start()
        except RuntimeError:  # interpreter shutdown: the exit hook finishes the close
            pass

    def stats(self) -> Stats:
        """Counters: delivered, dropped by reason, retried, queue depth, last error."""
        return self._intake.stats()

    def __enter__(self) -> KafkaHandler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<KafkaHandler {self._intake.describe()} ({logging.getLevelName(self.level)})>"


def _check_level(level: object) -> None:
    """A level name logging does not know raises naming the option (logging's own ``Unknown level: 'info'`` does
    not), before anything is started."""
    if isinstance(level, str) and not isinstance(logging.getLevelName(level), int):
        hint = f"; names are upper case: {level.upper()!r}" if isinstance(logging.getLevelName(level.upper()), int) \
            else ""
        raise ConfigError(f"level: {level!r} is not a logging level name or number{hint}")
