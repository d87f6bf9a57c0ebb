"""``kafkalog check``: is this configuration able to ship logs right now? For CI pipelines and readiness probes.

:func:`run_check` checks the options (from code, the command line or a logging config file), connects,
authenticates, checks the topic exists or will be created, sends a probe record the way a handler would and reads
it back, all within one deadline. Each step's outcome is one :class:`StepResult`; the report's exit code says which
kind of failure came first (:data:`EXIT_CODES`). Nothing here prints: the CLI (``kafkalog.cli.check``) does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._secrets import scrub, secret_values
from ..config import KafkaLogConfig
from ..errors import MissingDependencyError
from ._run import Deadline, check_config
from ._sources import HandlerOptions, handlers_in_file, merged
from ._steps import (
    CONFIG,
    EXIT_CODES,
    EXIT_CONFIG,
    EXIT_INTERNAL,
    READ_BACK,
    STEP_CODES,
    TOPIC,
    CheckReport,
    StepResult,
    StepSink,
)

__all__ = ["EXIT_CODES", "READ_BACK", "TOPIC", "CheckReport", "HandlerOptions", "StepResult", "handlers_in_file",
           "run_check"]

_GRACE = 1.0  # how much longer than the deadline the check waits for a step that is ending on its own


def _sources(options: Mapping[str, Any], config_file: str | Path | None) -> list[HandlerOptions]:
    if config_file is None:
        return [HandlerOptions("", dict(options))]
    return [HandlerOptions(found.source, merged(found.options, options)) for found in handlers_in_file(config_file)]


def _secrets_of(options: Mapping[str, Any]) -> tuple[str, ...]:
    """The secrets among options that did not make a config (a valid config knows its own: ``config.scrub``)."""
    producer_config = options.get("producer_config")
    found = secret_values(producer_config) if isinstance(producer_config, Mapping) else ()
    return found + tuple(str(options[name]) for name in ("sasl_password", "ssl_key_password") if options.get(name))


def _check_all(options: Mapping[str, Any], config_file: str | Path | None, topic: str | None, deadline: Deadline,
               emit: StepSink, *, through: str) -> None:
    try:
        sources = _sources(options, config_file)
    except ValueError as exc:
        emit(StepResult(CONFIG, False, scrub(str(exc), _secrets_of(options)), EXIT_CONFIG))
        return
    configs: list[tuple[HandlerOptions, KafkaLogConfig]] = []
    for source in sources:  # every configuration first: a bad one fails the check before any network step
        try:
            configs.append((source, KafkaLogConfig(**source.options)))
        except (ValueError, TypeError, MissingDependencyError) as exc:  # a transport or codec not installed too
            emit(StepResult(CONFIG, False, scrub(str(exc), _secrets_of(source.options)), EXIT_CONFIG, source.source))
    if len(configs) < len(sources):
        return
    for source, config in configs:
        check_config(config, deadline, emit, topic=topic, source=source.source, through=through)


def run_check(options: Mapping[str, Any] | None = None, *, config_file: str | Path | None = None,
              topic: str | None = None, timeout: float = 30.0, on_step: StepSink | None = None,
              through: str = READ_BACK) -> CheckReport:
    """Check a KafkaHandler configuration end to end within ``timeout`` seconds.

    ``options`` are KafkaHandler options (``bootstrap_servers``, ``topic``, ``transport``, ``producer_config``...).
    With ``config_file``, every KafkaHandler in it is checked, with ``options`` overriding its own (and
    ``producer_config`` merged). ``topic`` is the topic to probe when the configured one is a template or a
    callable (by default: the topic an INFO record goes to). ``on_step`` sees each step as soon as it is known.
    The steps run on a helper thread; one still running at the deadline is reported failed and left behind.
    ``through=TOPIC`` stops after the topic step, which then needs the topic to exist (a reader's check: nothing
    is written).
    """
    deadline = Deadline(timeout)
    results: list[StepResult] = []
    lock = threading.Lock()
    finished = threading.Event()

    def emit(result: StepResult) -> None:
        with lock:
            if finished.is_set():
                return  # too late: the report is out
            results.append(result)
            if on_step is not None:
                on_step(result)

    def run() -> None:
        try:
            _check_all(options or {}, config_file, topic, deadline, emit, through=through)
        except Exception as exc:  # a bug in the check: say so rather than die with a traceback
            emit(StepResult(_next_step(results), False, f"internal error: {type(exc).__name__}: {exc}",
                            EXIT_INTERNAL))
        finally:
            with lock:
                finished.set()

    thread = threading.Thread(target=run, name="kafkalog-check", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline.end - time.monotonic()) + _GRACE)
    complete = True
    with lock:
        if not finished.is_set():
            finished.set()
            complete = False
            step = _next_step(results)
            late = StepResult(step, False, f"did not finish within the check's --timeout {timeout:g} s",
                              STEP_CODES[step])
            results.append(late)
            if on_step is not None:
                on_step(late)
    return CheckReport(tuple(results), complete)


def _next_step(results: list[StepResult]) -> str:
    """The step that was running: the one after the last that passed."""
    order = list(STEP_CODES)
    if not results:
        return CONFIG
    last = results[-1].step
    return order[min(order.index(last) + 1, len(order) - 1)] if last in order else CONFIG

