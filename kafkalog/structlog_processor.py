"""``KafkaProcessor``: ship structlog events to Kafka without a stdlib logger in between.

A structlog processor: put it in ``structlog.configure(processors=[...])`` after the processors whose keys you
want (``merge_contextvars``, ``add_log_level``, ...) and before the renderer. It ships a copy of each event and
hands the event dict on unchanged, so the console output stays as it was; ``passthrough=False`` ends the chain
there instead (``structlog.DropEvent``), for applications that log to Kafka only. structlog itself is imported
only for that, when the processor is created.
"""

from __future__ import annotations

import logging
import time
from collections.abc import MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from ._intake import Intake
from ._signature import checked_names, config_from
from ._stats import Stats
from ._worker import CloseReport
from .config import KafkaLogConfig
from .errors import ConfigError, ConfigTypeError, MissingDependencyError, Reason
from .options import KafkaOptions
from .typing import TopicChooser

if TYPE_CHECKING:  # only in annotations (typing.Unpack is 3.11+)
    from typing_extensions import Unpack

_LEVELS = {"exception": logging.ERROR, "warn": logging.WARNING, "msg": logging.INFO, "fatal": logging.CRITICAL}


def _level_number(level: object) -> int:
    if isinstance(level, bool) or not isinstance(level, (int, str)):
        raise ConfigTypeError(f"level: expected a level name such as 'info' or a number, got {level!r}")
    if isinstance(level, int):
        return level
    number = logging.getLevelName(level.upper())
    if not isinstance(number, int):
        raise ConfigError(f"level: {level!r} is not one of ['debug', 'info', 'warning', 'error', 'critical']")
    return number


class KafkaProcessor:
    """A structlog processor that ships each event to Kafka from a background thread; it never blocks or raises.

    ``KafkaProcessor("127.0.0.1:9092", "app-logs", static_fields={"service": "billing"})`` takes every option of
    :class:`~kafkalog.KafkaLogConfig` (or ``config=``), plus ``level`` (events below it are passed on, not
    shipped) and ``passthrough`` (False: drop the event after shipping it).
    """

    @checked_names("KafkaProcessor")
    def __init__(  # the options: kafkalog/options.py
            self, bootstrap_servers: str | Sequence[str] | None = None, topic: str | TopicChooser | None = None, *,
            level: int | str = logging.NOTSET, passthrough: bool = True, config: KafkaLogConfig | None = None,
            **options: Unpack[KafkaOptions],
    ) -> None:
        if not isinstance(passthrough, bool):
            raise ConfigTypeError(f"passthrough: expected True or False, got {passthrough!r}")
        self.level = _level_number(level)
        self.passthrough = passthrough
        self._drop_event: type[BaseException] | None = None
        if not passthrough:
            try:
                from structlog import DropEvent
            except ImportError as exc:
                raise MissingDependencyError(
                    "passthrough=False needs structlog: pip install 'kafkalog[structlog]'") from exc
            self._drop_event = DropEvent
        self._intake = Intake(config_from(bootstrap_servers, topic, config, options))
        self.close_report: CloseReport | None = None
        if self._intake.flood is not None:
            self._intake.flood.build = lambda item: self._intake.builder.from_structlog(*item)

    @property
    def config(self) -> KafkaLogConfig:
        return self._intake.config

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        """Ship ``event_dict`` (never raising into the application) and pass it on, or drop it."""
        intake = self._intake
        try:
            levelno = self._levelno(method_name, event_dict)
            if (levelno is None or levelno >= self.level) and not intake.own_thread():
                created = time.time()
                name = getattr(logger, "name", None)
                flood = intake.flood
                if flood is not None and not flood.allow(
                        str(event_dict.get("logger", name)), levelno or 0, str(event_dict.get("event")),
                        (method_name, event_dict, name if isinstance(name, str) else None, created), created):
                    return self._passed_on(event_dict)
                intake.ship(intake.builder.from_structlog(method_name, event_dict, created,
                                                          name if isinstance(name, str) else None), created,
                            levelno or 0)  # the level picks the ``overflow`` policy, as for the handler
        except Exception as exc:
            intake.drop(Reason.INTERNAL_ERROR, f"could not ship a structlog event: {exc!r}")
        return self._passed_on(event_dict)

    def _passed_on(self, event_dict: MutableMapping[str, Any]) -> Any:
        if self._drop_event is not None:
            raise self._drop_event
        return event_dict

    @staticmethod
    def _levelno(method_name: str, event_dict: MutableMapping[str, Any]) -> int | None:
        """The event's level number (its ``level`` key, else the method name); None if it names no level."""
        level = event_dict.get("level")
        name = level if isinstance(level, str) else method_name
        number = _LEVELS.get(name) or logging.getLevelName(name.upper())
        return number if isinstance(number, int) else None

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until events shipped before this call are delivered or dropped; False if ``timeout`` passed."""
        return self._intake.flush(timeout)

    def close(self, timeout: float | None = None) -> CloseReport:
        """Drain within ``timeout`` (default ``close_timeout``) and stop; returns what was left. The exit hook
        does the same for a processor that is never closed."""
        self.close_report = self._intake.close(timeout)
        return self.close_report

    def stats(self) -> Stats:
        """Counters: delivered, dropped by reason, retried, queue depth, last error."""
        return self._intake.stats()

    def __enter__(self) -> KafkaProcessor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<KafkaProcessor {self._intake.describe()}>"
