"""The record contract: what a stdlib LogRecord or a loguru record becomes (kafkalog._records, the formatter)."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkalog import ConfigError, KafkaHandler, KafkaJsonFormatter, KafkaSink
from kafkalog._records import RESERVED_KEYS, RecordBuilder, exception_info, iso_utc
from kafkalog.transports import MemoryTransport

from .conftest import CONTRACT_KEYS

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
Shipped = Callable[..., dict[str, Any]]


class AppError(Exception):
    """An exception class defined outside builtins, to check the qualified type name."""


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


def _line() -> int:
    frame = sys._getframe(1)
    return frame.f_lineno


def _raise_chained() -> None:
    try:
        raise KeyError("inner-cause")
    except KeyError as exc:
        raise AppError("outer-failure") from exc


@pytest.fixture
def stdlib(make_handler: Callable[..., KafkaHandler], make_logger: Callable[..., logging.Logger]) -> Any:
    """``(logger, ship)``: a logger whose records go to a memory transport; ``ship()`` returns the last one."""
    transport = MemoryTransport()
    handler = make_handler(transport=transport, hostname="unit-host", static_fields={"service": "billing"})
    logger = make_logger(handler)

    def last() -> dict[str, Any]:
        assert handler.flush(5)
        return json.loads(transport.values()[-1])

    return logger, last


class TestFromLogging:
    def test_contract_keys_exactly(self, stdlib: Any) -> None:
        """A plain record has exactly the contract keys plus the static fields."""
        logger, last = stdlib
        logger.info("hi")
        assert set(last()) == CONTRACT_KEYS | {"service"}

    @pytest.mark.parametrize(("level", "name"), [(10, "debug"), (20, "info"), (30, "warning"), (40, "error"),
                                                 (50, "critical")])
    def test_type_is_lowercase_level(self, stdlib: Any, level: int, name: str) -> None:
        """type is the level name in lower case."""
        logger, last = stdlib
        logger.log(level, "x")
        assert last()["type"] == name

    def test_custom_level_name_lowercased(self, stdlib: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """A custom level name (NOTICE) becomes type 'notice'."""
        monkeypatch.setitem(logging._levelToName, 25, "NOTICE")
        logger, last = stdlib
        logger.log(25, "x")
        assert last()["type"] == "notice"

    def test_action_from_extra(self, stdlib: Any) -> None:
        """action comes from extra={'action': ...}."""
        logger, last = stdlib
        logger.info("x", extra={"action": "purchase"})
        assert last()["action"] == "purchase"

    def test_action_default(self, stdlib: Any) -> None:
        """Without an action extra, action is default_action ('log')."""
        logger, last = stdlib
        logger.info("x")
        assert last()["action"] == "log"

    def test_action_custom_default(self, make_handler: Callable[..., KafkaHandler],
                                   make_logger: Callable[..., logging.Logger]) -> None:
        """default_action= sets the action of records without one."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport, default_action="event")
        make_logger(handler).info("x")
        assert handler.flush(5)
        assert json.loads(transport.values()[0])["action"] == "event"

    def test_non_str_action_stringified(self, stdlib: Any) -> None:
        """A non-str action extra becomes its str."""
        logger, last = stdlib
        logger.info("x", extra={"action": 42})
        assert last()["action"] == "42"

    def test_action_not_in_fields(self, stdlib: Any) -> None:
        """The action extra is lifted out of fields."""
        logger, last = stdlib
        logger.info("x", extra={"action": "a", "user": 1})
        assert last()["fields"] == {"user": 1}

    def test_time_format(self, stdlib: Any) -> None:
        """time is ISO 8601 UTC with microseconds and a +00:00 offset."""
        logger, last = stdlib
        logger.info("x")
        assert ISO.match(last()["time"])

    def test_time_parseable_and_now(self, stdlib: Any) -> None:
        """time parses with datetime.fromisoformat as UTC, and is when the call was made (not when it shipped)."""
        logger, last = stdlib
        before = time.time()
        logger.info("x")
        after = time.time()
        when = dt.datetime.fromisoformat(last()["time"])
        assert when.utcoffset() == dt.timedelta(0)
        assert before - 1e-6 <= when.timestamp() <= after + 1e-6  # bracketed by the call: an order, not a bound

    def test_msg_args_merged(self, stdlib: Any) -> None:
        """msg is the message with %-args merged."""
        logger, last = stdlib
        logger.info("user %s bought %d items", "ann", 3)
        assert last()["msg"] == "user ann bought 3 items"

    def test_msg_mapping_args_merged(self, stdlib: Any) -> None:
        """A single mapping argument fills %(name)s placeholders."""
        logger, last = stdlib
        logger.info("%(who)s in", {"who": "bob"})
        assert last()["msg"] == "bob in"

    def test_msg_format_mismatch_keeps_template(self, stdlib: Any) -> None:
        """A %-format mismatch keeps the template and args and says formatting failed."""
        logger, last = stdlib
        logger.info("count %d", "many")
        msg = last()["msg"]
        assert msg.startswith("count %d [message formatting failed: TypeError")
        assert "args=('many',)" in msg

    def test_msg_too_few_args_still_shipped(self, stdlib: Any) -> None:
        """Too few %-args still ship a record naming the failure."""
        logger, last = stdlib
        logger.info("%s and %s", "one")  # noqa: PLE1206 - the mismatch is the test
        assert "[message formatting failed" in last()["msg"]

    def test_fields_are_extras(self, stdlib: Any) -> None:
        """fields holds the extra= values."""
        logger, last = stdlib
        logger.info("x", extra={"user_id": 7, "tags": ["a", "b"], "nested": {"k": None}})
        assert last()["fields"] == {"user_id": 7, "tags": ["a", "b"], "nested": {"k": None}}

    def test_fields_empty_without_extras(self, stdlib: Any) -> None:
        """fields is {} when there are no extras."""
        logger, last = stdlib
        logger.info("x")
        assert last()["fields"] == {}

    def test_extra_named_like_contract_key_stays_in_fields(self, stdlib: Any) -> None:
        """An extra called 'type' goes to fields and does not replace the top-level type."""
        logger, last = stdlib
        logger.warning("x", extra={"type": "custom", "host": "other"})
        record = last()
        assert (record["type"], record["host"], record["fields"]) == ("warning", "unit-host",
                                                                      {"type": "custom", "host": "other"})

    def test_func_name(self, stdlib: Any) -> None:
        """funcName is the calling function."""
        logger, last = stdlib
        logger.info("x")
        assert last()["funcName"] == "test_func_name"

    def test_logger_name(self, stdlib: Any) -> None:
        """logger is the logger's name."""
        logger, last = stdlib
        logger.info("x")
        assert last()["logger"] == logger.name

    def test_host_from_option(self, stdlib: Any) -> None:
        """host is the hostname option."""
        logger, last = stdlib
        logger.info("x")
        assert last()["host"] == "unit-host"

    def test_host_defaults_to_machine(self, make_handler: Callable[..., KafkaHandler],
                                      make_logger: Callable[..., logging.Logger]) -> None:
        """Without hostname=, host is socket.gethostname()."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport)
        make_logger(handler).info("x")
        assert handler.flush(5)
        assert json.loads(transport.values()[0])["host"] == socket.gethostname()

    def test_pid(self, stdlib: Any) -> None:
        """pid is this process id."""
        logger, last = stdlib
        logger.info("x")
        assert last()["pid"] == os.getpid()

    def test_thread_name(self, stdlib: Any) -> None:
        """thread is the name of the thread that logged."""
        logger, last = stdlib
        thread = threading.Thread(target=logger.info, args=("x",), name="payments-7")
        thread.start()
        thread.join()
        assert last()["thread"] == "payments-7"

    def test_file(self, stdlib: Any) -> None:
        """file is the path of the calling source file."""
        logger, last = stdlib
        logger.info("x")
        assert last()["file"] == __file__

    def test_line(self, stdlib: Any) -> None:
        """line is the line of the logging call."""
        logger, last = stdlib
        line = _line() + 1
        logger.info("x")
        assert last()["line"] == line

    def test_static_fields_top_level(self, stdlib: Any) -> None:
        """static_fields appear as top-level keys, not in fields."""
        logger, last = stdlib
        logger.info("x")
        record = last()
        assert (record["service"], "service" in record["fields"]) == ("billing", False)

    def test_no_exception_key_without_exception(self, stdlib: Any) -> None:
        """A record without exception info has no exception key."""
        logger, last = stdlib
        logger.info("x")
        assert "exception" not in last()

    def test_exception_outside_except_has_no_key(self, stdlib: Any) -> None:
        """logger.exception() outside an except block adds no exception key."""
        logger, last = stdlib
        logger.exception("x")
        assert "exception" not in last()

    def test_exception_type_qualified(self, stdlib: Any) -> None:
        """exception.type is module-qualified for non-builtin classes."""
        logger, last = stdlib
        try:
            _raise_chained()
        except AppError:
            logger.exception("failed")
        assert last()["exception"]["type"] == f"{AppError.__module__}.AppError"

    def test_exception_builtin_type_bare(self, stdlib: Any) -> None:
        """exception.type is the bare name for builtins."""
        logger, last = stdlib
        try:
            {}["k"]
        except KeyError:
            logger.exception("failed")
        assert last()["exception"]["type"] == "KeyError"

    def test_exception_message(self, stdlib: Any) -> None:
        """exception.message is str(exception)."""
        logger, last = stdlib
        try:
            _raise_chained()
        except AppError:
            logger.exception("failed")
        assert last()["exception"]["message"] == "outer-failure"

    def test_exception_keys(self, stdlib: Any) -> None:
        """exception has exactly type, message and stack."""
        logger, last = stdlib
        try:
            _raise_chained()
        except AppError:
            logger.exception("failed")
        assert set(last()["exception"]) == {"type", "message", "stack"}

    def test_exception_stack_has_chain(self, stdlib: Any) -> None:
        """exception.stack holds the full chain: the cause, the link sentence and the outer error."""
        logger, last = stdlib
        try:
            _raise_chained()
        except AppError:
            logger.exception("failed")
        stack = last()["exception"]["stack"]
        cause, link, outer = (stack.index("KeyError: 'inner-cause'"),
                              stack.index("The above exception was the direct cause"), stack.index("outer-failure"))
        assert cause < link < outer

    def test_exception_via_exc_info_tuple(self, stdlib: Any) -> None:
        """exc_info=(type, value, tb) given explicitly is shipped."""
        logger, last = stdlib
        try:
            raise ValueError("v")
        except ValueError:
            info = sys.exc_info()
        logger.error("x", exc_info=info)
        assert last()["exception"]["message"] == "v"

    def test_unprintable_exception_still_shipped(self, stdlib: Any) -> None:
        """An exception whose __str__ raises ships with a placeholder message."""
        logger, last = stdlib
        try:
            raise UnprintableError()
        except UnprintableError:
            logger.exception("x")
        assert last()["exception"]["message"] == "<unprintable UnprintableError>"

    def test_stack_info_in_fields(self, stdlib: Any) -> None:
        """stack_info=True puts the stack in fields.stack_info."""
        logger, last = stdlib
        logger.info("x", stack_info=True)
        assert last()["fields"]["stack_info"].startswith("Stack (most recent call last):")

    def test_exc_text_only_record(self) -> None:
        """A record carrying only exc_text (e.g. from another process) ships it as the stack."""
        record = logging.LogRecord("n", logging.ERROR, __file__, 1, "m", None, None)
        record.exc_text = "Traceback: remote"
        event = RecordBuilder(host="h", default_action="log", static_fields={}).from_logging(record)
        assert event["exception"] == {"type": "", "message": "", "stack": "Traceback: remote"}

    def test_record_not_mutated(self) -> None:
        """Building the event does not add attributes to the LogRecord."""
        record = logging.LogRecord("n", logging.INFO, __file__, 1, "m %s", ("a",), None)
        before = dict(record.__dict__)
        RecordBuilder(host="h", default_action="log", static_fields={"s": 1}).from_logging(record)
        assert record.__dict__ == before

    def test_msg_object_with_raising_str_shipped(self, make_handler: Callable[..., KafkaHandler],
                                                 make_logger: Callable[..., logging.Logger],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        """A msg object whose __str__ raises still ships a record (not dropped as internal_error)."""
        monkeypatch.setattr(logging, "raiseExceptions", False)
        handler = make_handler()
        make_logger(handler).warning(UnprintableError())
        assert handler.flush(5)
        assert handler.stats().delivered == 1


class TestReservedKeys:
    def test_reserved_keys_are_contract_plus_optional(self) -> None:
        """RESERVED_KEYS is the contract keys plus the optional ones (exception, truncated, trace ids)."""
        assert CONTRACT_KEYS | {"exception", "truncated", "trace_id", "span_id", "trace_flags"} == RESERVED_KEYS
        assert "id" in CONTRACT_KEYS


class TestIsoUtc:
    def test_epoch(self) -> None:
        """iso_utc(0) is the epoch with six zero microsecond digits."""
        assert iso_utc(0) == "1970-01-01T00:00:00.000000+00:00"

    def test_fraction(self) -> None:
        """A fractional timestamp keeps its microseconds."""
        assert iso_utc(1_700_000_000.25) == "2023-11-14T22:13:20.250000+00:00"

    def test_second_cache_not_stale(self) -> None:
        """Consecutive calls in different seconds give different seconds (cache refreshed)."""
        assert (iso_utc(100.5)[:19], iso_utc(101.5)[:19]) == ("1970-01-01T00:01:40", "1970-01-01T00:01:41")

    @settings(max_examples=200, database=None)
    @given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
    def test_matches_timestamp_within_a_microsecond(self, timestamp: float) -> None:
        """The text parses back to the timestamp within 1 microsecond."""
        text = iso_utc(timestamp)
        assert ISO.match(text)
        assert abs(dt.datetime.fromisoformat(text).timestamp() - timestamp) <= 2e-6


class TestExceptionInfo:
    def test_none_without_type(self) -> None:
        """No exception type gives None."""
        assert exception_info(None, None, None) is None

    def test_exception_without_traceback(self) -> None:
        """An exception that was never raised still gets type, message and a stack line."""
        info = exception_info(ValueError, ValueError("v"), None)
        assert info == {"type": "ValueError", "message": "v", "stack": "ValueError: v\n"}


@pytest.fixture
def loguru_ship(loguru_logger: Any, make_sink: Callable[..., KafkaSink]) -> Any:
    """``(logger, last)``: a loguru logger with a KafkaSink on a memory transport; ``last()`` the last record."""
    transport = MemoryTransport()
    sink = make_sink(transport=transport, hostname="unit-host", static_fields={"service": "billing"})
    loguru_logger.add(sink, format="{message}", catch=False)

    def last() -> dict[str, Any]:
        assert sink.drain(5)
        return json.loads(transport.values()[-1])

    return loguru_logger, last


class TestFromLoguru:
    def test_contract_keys_exactly(self, loguru_ship: Any) -> None:
        """A plain loguru record has exactly the contract keys plus the static fields."""
        logger, last = loguru_ship
        logger.info("hi")
        assert set(last()) == CONTRACT_KEYS | {"service"}

    @pytest.mark.parametrize(("method", "name"), [("debug", "debug"), ("success", "success"),
                                                  ("warning", "warning"), ("critical", "critical")])
    def test_type_is_lowercase_level(self, loguru_ship: Any, method: str, name: str) -> None:
        """type is the loguru level name in lower case."""
        logger, last = loguru_ship
        getattr(logger, method)("x")
        assert last()["type"] == name

    def test_bind_values_in_fields(self, loguru_ship: Any) -> None:
        """bind() values go to fields."""
        logger, last = loguru_ship
        logger.bind(user_id=5, region="eu").info("x")
        assert last()["fields"] == {"user_id": 5, "region": "eu"}

    def test_kwargs_in_fields_and_message(self, loguru_ship: Any) -> None:
        """Call kwargs format the message and go to fields."""
        logger, last = loguru_ship
        logger.info("paid {amount}", amount=12)
        record = last()
        assert (record["msg"], record["fields"]) == ("paid 12", {"amount": 12})

    def test_action_from_bind(self, loguru_ship: Any) -> None:
        """action comes from bind(action=...) and is lifted out of fields."""
        logger, last = loguru_ship
        logger.bind(action="login", user="u").info("x")
        record = last()
        assert (record["action"], record["fields"]) == ("login", {"user": "u"})

    def test_action_default(self, loguru_ship: Any) -> None:
        """Without an action, action is 'log'."""
        logger, last = loguru_ship
        logger.info("x")
        assert last()["action"] == "log"

    def test_time_parseable_and_now(self, loguru_ship: Any) -> None:
        """time is ISO 8601 UTC with microseconds, within 1 s of now."""
        logger, last = loguru_ship
        logger.info("x")
        text = last()["time"]
        assert ISO.match(text)
        assert abs((dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(text)).total_seconds()) < 1.0

    def test_origin_fields(self, loguru_ship: Any) -> None:
        """funcName, logger, file, line, pid, thread and host describe the call site."""
        logger, last = loguru_ship
        line = _line() + 1
        logger.info("x")
        record = last()
        assert {k: record[k] for k in ("funcName", "logger", "file", "line", "pid", "thread", "host")} == {
            "funcName": "test_origin_fields", "logger": __name__, "file": __file__, "line": line,
            "pid": os.getpid(), "thread": threading.current_thread().name, "host": "unit-host"}

    def test_static_fields_top_level(self, loguru_ship: Any) -> None:
        """static_fields appear at the top level."""
        logger, last = loguru_ship
        logger.info("x")
        assert last()["service"] == "billing"

    def test_logger_exception(self, loguru_ship: Any) -> None:
        """logger.exception() in an except block ships the exception with its chain."""
        logger, last = loguru_ship
        try:
            _raise_chained()
        except AppError:
            logger.exception("failed")
        exc = last()["exception"]
        assert (exc["type"], exc["message"]) == (f"{AppError.__module__}.AppError", "outer-failure")
        assert "KeyError: 'inner-cause'" in exc["stack"]

    def test_opt_exception(self, loguru_ship: Any) -> None:
        """opt(exception=exc) ships that exception's type, message and traceback."""
        logger, last = loguru_ship
        try:
            raise ValueError("bad value")
        except ValueError as caught:
            error = caught
        logger.opt(exception=error).warning("later")
        exc = last()["exception"]
        assert (exc["type"], exc["message"]) == ("ValueError", "bad value")
        assert 'raise ValueError("bad value")' in exc["stack"]

    def test_no_exception_key_without_exception(self, loguru_ship: Any) -> None:
        """A loguru record without an exception has no exception key."""
        logger, last = loguru_ship
        logger.info("x")
        assert "exception" not in last()

    def test_exception_outside_except_has_no_key(self, loguru_ship: Any) -> None:
        """logger.exception() outside an except block adds no exception key (as with stdlib)."""
        logger, last = loguru_ship
        logger.exception("x")
        assert "exception" not in last()


def _without_id(event: dict[str, Any]) -> dict[str, Any]:
    """The event less its id (each formatter or handler makes its own id for the same LogRecord)."""
    assert isinstance(event.pop("id"), str)
    return event


class TestKafkaJsonFormatter:
    @pytest.fixture
    def both(self, make_handler: Callable[..., KafkaHandler],
             make_logger: Callable[..., logging.Logger]) -> Any:
        """``(logger, shipped, printed)``: one logger feeding a KafkaHandler and a StreamHandler+formatter."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport, hostname="h1", static_fields={"svc": "a"},
                               default_action="act")
        stream = io.StringIO()
        printer = logging.StreamHandler(stream)
        printer.setFormatter(KafkaJsonFormatter(hostname="h1", static_fields={"svc": "a"}, default_action="act"))
        logger = make_logger(handler, printer)

        def shipped() -> dict[str, Any]:
            assert handler.flush(5)
            return json.loads(transport.values()[-1])

        def printed() -> dict[str, Any]:
            return json.loads(stream.getvalue().splitlines()[-1])

        return logger, shipped, printed

    def test_same_object_plain(self, both: Any) -> None:
        """A plain record prints the same JSON object the handler ships."""
        logger, shipped, printed = both
        logger.info("hello %s", "w")
        assert _without_id(printed()) == _without_id(shipped())

    def test_same_object_with_extras_exception_and_stack(self, both: Any) -> None:
        """A record with odd extras, an exception chain and stack_info prints the same JSON object as shipped."""
        logger, shipped, printed = both
        try:
            _raise_chained()
        except AppError:
            logger.exception("m %d", 1, stack_info=True,
                             extra={"action": "buy", "s": {1}, "b": b"\xff", "n": float("nan"), "big": 2**70})
        assert _without_id(printed()) == _without_id(shipped())

    def test_one_line_per_record(self, both: Any) -> None:
        """The formatter prints each record as one line, even with a multi-line stack."""
        logger, _, printed = both
        try:
            _raise_chained()
        except AppError:
            logger.exception("x")
        assert printed()["exception"]["type"].endswith("AppError")

    def test_rejects_reserved_static_field(self) -> None:
        """A static field named like a record key raises ConfigError naming static_fields."""
        with pytest.raises(ConfigError, match=r"^static_fields:"):
            KafkaJsonFormatter(static_fields={"msg": "x"})

    def test_process_log_record_honoured_by_handler(self, make_handler: Callable[..., KafkaHandler],
                                                    make_logger: Callable[..., logging.Logger]) -> None:
        """A KafkaJsonFormatter subclass set on the handler can add keys to what is shipped."""

        class Tagged(KafkaJsonFormatter):
            def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
                log_data["team"] = "core"
                return log_data

        transport = MemoryTransport()
        handler = make_handler(transport=transport)
        handler.setFormatter(Tagged())
        make_logger(handler).info("x")
        assert handler.flush(5)
        assert json.loads(transport.values()[0])["team"] == "core"

    def test_plain_formatter_ships_text(self, make_handler: Callable[..., KafkaHandler],
                                        make_logger: Callable[..., logging.Logger]) -> None:
        """A non-JSON formatter on the handler ships its text as the value."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport)
        handler.setFormatter(logging.Formatter("%(levelname)s|%(message)s"))
        make_logger(handler).warning("hi %s", "there")
        assert handler.flush(5)
        assert transport.values() == [b"WARNING|hi there"]
