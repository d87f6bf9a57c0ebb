"""KafkaProcessor (structlog): how event dicts become records, options, and the never-raise promise."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kafkalog import ConfigError, ConfigTypeError, KafkaProcessor
from kafkalog.errors import Reason
from kafkalog.transports import MemoryTransport

from .conftest import BOOTSTRAP

structlog = pytest.importorskip("structlog")

MakeProcessor = Callable[..., tuple[KafkaProcessor, MemoryTransport]]


@pytest.fixture
def make_processor() -> Iterator[MakeProcessor]:
    made: list[KafkaProcessor] = []

    def make(**options: Any) -> tuple[KafkaProcessor, MemoryTransport]:
        memory = MemoryTransport()
        options.setdefault("linger", 0)
        options.setdefault("handle_sigterm", False)
        options.setdefault("on_error", lambda message: None)
        processor = KafkaProcessor(BOOTSTRAP, "logs", transport=memory, **options)
        made.append(processor)
        return processor, memory

    yield make
    for processor in made:
        processor.close(0.2)


def _events(processor: KafkaProcessor, memory: MemoryTransport) -> list[dict[str, Any]]:
    assert processor.flush(5)
    return [json.loads(v) for v in memory.values()]


def _logger(processor: KafkaProcessor, *before: Any) -> Any:
    return structlog.wrap_logger(structlog.ReturnLogger(), processors=[*before, processor])


class TestRecords:
    def test_method_names_become_types(self, make_processor: MakeProcessor) -> None:
        """Without add_log_level the method name gives the type: exception -> error, warn -> warning, msg -> info."""
        processor, memory = make_processor()
        log = _logger(processor)
        log.debug("a")
        log.warning("b")
        processor(None, "exception", {"event": "c"})
        processor(None, "warn", {"event": "d"})
        processor(None, "msg", {"event": "e"})
        assert [e["type"] for e in _events(processor, memory)] == ["debug", "warning", "error", "warning", "info"]

    def test_level_key_wins_and_is_not_a_field(self, make_processor: MakeProcessor) -> None:
        """add_log_level's ``level`` key is the type and is not repeated in fields."""
        processor, memory = make_processor()
        _logger(processor, structlog.processors.add_log_level).critical("x", n=1)
        (event,) = _events(processor, memory)
        assert event["type"] == "critical" and event["fields"] == {"n": 1}

    def test_event_and_positional_args_make_the_message(self, make_processor: MakeProcessor) -> None:
        """``event`` is msg; stdlib-style positional args are applied; a failing format keeps the record."""
        processor, memory = make_processor()
        processor(None, "info", {"event": "user %s paid %d", "positional_args": ("alice", 3)})
        processor(None, "info", {"event": "%(who)s", "positional_args": ({"who": "bob"},)})
        processor(None, "info", {"event": "%d", "positional_args": ("x",)})
        processor(None, "info", {"event": {"not": "text"}})
        processor(None, "info", {})
        msgs = [e["msg"] for e in _events(processor, memory)]
        assert msgs[:2] == ["user alice paid 3", "bob"]
        assert msgs[2].startswith("%d [message formatting failed: TypeError")
        assert msgs[3:] == ["{'not': 'text'}", ""]

    def test_exception_forms(self, make_processor: MakeProcessor) -> None:
        """exc_info=True inside except, an exception object, an exc_info tuple, and format_exc_info's text all
        give ``exception``; exc_info=True with no exception gives none."""
        processor, memory = make_processor()
        log = _logger(processor)
        try:
            raise ValueError("bad")
        except ValueError as exc:
            log.error("true", exc_info=True)
            log.error("object", exc_info=exc)
            log.error("tuple", exc_info=sys.exc_info())
            _logger(processor, structlog.processors.format_exc_info).error("text", exc_info=True)
        log.error("none", exc_info=True)
        events = _events(processor, memory)
        for event in events[:3]:
            assert event["exception"]["type"] == "ValueError" and event["exception"]["message"] == "bad"
            assert "exc_info" not in event["fields"]
        assert events[3]["exception"]["type"] == "" and "ValueError: bad" in events[3]["exception"]["stack"]
        assert "exception" not in events[3]["fields"]
        assert "exception" not in events[4]

    def test_callsite_is_the_code_that_logged(self, make_processor: MakeProcessor) -> None:
        """funcName, file, line and logger name the caller, not structlog or kafkalog frames."""
        processor, memory = make_processor()
        log = _logger(processor)

        def checkout() -> int:
            log.info("x")
            return checkout.__code__.co_firstlineno + 1

        line = checkout()
        (event,) = _events(processor, memory)
        assert (event["funcName"], event["file"], event["line"], event["logger"]) == (
            "checkout", __file__, line, __name__)

    def test_callsite_parameter_adder_values_are_used(self, make_processor: MakeProcessor) -> None:
        """CallsiteParameterAdder's func_name, pathname, lineno, thread_name and process fill the record keys."""
        processor, memory = make_processor()
        processor(None, "info", {"event": "x", "func_name": "f", "pathname": "/a.py", "lineno": 9,
                                 "thread_name": "T", "process": 42, "logger": "app.db"})
        (event,) = _events(processor, memory)
        assert (event["funcName"], event["file"], event["line"], event["thread"], event["pid"], event["logger"]) \
            == ("f", "/a.py", 9, "T", 42, "app.db")
        assert event["fields"] == {}

    def test_logger_name_from_the_key_then_the_wrapped_logger(self, make_processor: MakeProcessor) -> None:
        """``logger`` is the event's ``logger`` key, else the wrapped (stdlib) logger's name, else the module."""
        import logging

        processor, memory = make_processor()
        std = logging.Logger("app.std")
        processor(std, "info", {"event": "a", "logger": "app.key"})
        processor(std, "info", {"event": "b"})
        processor(structlog.ReturnLogger(), "info", {"event": "c"})
        assert [e["logger"] for e in _events(processor, memory)] == ["app.key", "app.std", __name__]

    def test_user_values_under_callsite_names_stay_fields(self, make_processor: MakeProcessor) -> None:
        """A keyword argument named like a callsite key but of another type (process="billing") stays a field;
        an ``exception`` text that is no traceback stays a field too."""
        processor, memory = make_processor()
        processor(None, "info", {"event": "x", "process": "billing", "lineno": "n/a", "exception": "timeout"})
        (event,) = _events(processor, memory)
        assert event["fields"] == {"process": "billing", "lineno": "n/a", "exception": "timeout"}
        assert isinstance(event["pid"], int) and isinstance(event["line"], int) and "exception" not in event

    def test_passthrough_hands_on_the_same_dict_unchanged(self, make_processor: MakeProcessor) -> None:
        """The processor returns the event dict it was given, contents untouched, for the renderer after it."""
        processor, _ = make_processor()
        event_dict = {"event": "x", "level": "info", "user": "alice"}
        assert processor(None, "info", event_dict) is event_dict
        assert event_dict == {"event": "x", "level": "info", "user": "alice"}

    def test_passthrough_false_drops_after_shipping(self, make_processor: MakeProcessor) -> None:
        """passthrough=False ships the event, then raises DropEvent so nothing after it runs."""
        processor, memory = make_processor(passthrough=False)
        with pytest.raises(structlog.DropEvent):
            processor(None, "info", {"event": "x"})
        assert len(_events(processor, memory)) == 1

    def test_level_option_skips_lower_events(self, make_processor: MakeProcessor) -> None:
        """level="warning": info is passed on but not shipped; warning and error are shipped."""
        processor, memory = make_processor(level="warning")
        log = _logger(processor, structlog.processors.add_log_level)
        log.info("a")
        log.warning("b")
        log.exception("c")
        assert [e["msg"] for e in _events(processor, memory)] == ["b", "c"]

    def test_the_event_level_picks_the_overflow_policy(self, make_processor: MakeProcessor,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
        """overflow={"ERROR": "block"}: the queue is told each event's level (its level key, else the method)."""
        processor, _ = make_processor(overflow={"ERROR": "block"})
        worker = processor._intake.worker
        levels: list[int] = []
        real_put = worker.put

        def put(message: Any, level: int = 0) -> bool:
            levels.append(level)
            return real_put(message, level)

        monkeypatch.setattr(worker, "put", put)
        processor(None, "error", {"event": "a"})
        processor(None, "info", {"event": "b", "level": "critical"})
        processor(None, "debug", {"event": "c"})
        processor(None, "custom", {"event": "d"})
        assert levels == [40, 50, 10, 0]


class TestPromises:
    def test_a_failure_is_counted_never_raised(self, make_processor: MakeProcessor,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
        """An error while building or queueing the record is counted as internal_error; the dict is passed on."""
        processor, _ = make_processor()

        def broken(*args: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr(processor._intake, "ship", broken)
        event_dict = {"event": "x"}
        assert processor(None, "info", event_dict) is event_dict
        assert processor.stats().dropped == {Reason.INTERNAL_ERROR: 1}

    def test_events_after_close_are_counted(self, make_processor: MakeProcessor) -> None:
        """close() drains; close() again is fine; later events are dropped as closed, not raised."""
        processor, memory = make_processor()
        processor(None, "info", {"event": "x"})
        assert processor.close().left == 0
        processor.close()
        processor(None, "info", {"event": "late"})
        assert len(memory.values()) == 1
        assert processor.stats().dropped == {Reason.CLOSED: 1}

    @pytest.mark.parametrize(("options", "error", "says"), [
        ({"level": "loud"}, ConfigError, "level"),
        ({"level": 1.5}, ConfigTypeError, "level"),
        ({"passthrough": "no"}, ConfigTypeError, "passthrough"),
        ({"colour": "red"}, ConfigTypeError, "unknown option"),
    ])
    def test_bad_options_raise_at_construction(self, options: dict[str, Any], error: type[Exception],
                                               says: str) -> None:
        """Wrong options raise when the processor is made, naming the option."""
        with pytest.raises(error, match=says):
            KafkaProcessor(BOOTSTRAP, "logs", transport=MemoryTransport(), handle_sigterm=False, **options)
