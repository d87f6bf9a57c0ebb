"""KafkaHandler (stdlib logging): never blocks or raises, skips the client's own records, lifecycle, property."""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkalog import KafkaHandler
from kafkalog.errors import DeliveryError
from kafkalog.transports import MemoryTransport
from kafkalog.typing import Message

from .conftest import (
    BOOTSTRAP,
    CONTRACT_KEYS,
    GatedTransport,
    StuckOpenTransport,
    assert_invariant,
    finishes_within,
)

MakeHandler = Callable[..., KafkaHandler]
MakeLogger = Callable[..., logging.Logger]


class LoggingTransport(MemoryTransport):
    """A transport that logs through ``logger`` while sending, as a client library might on its thread."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger

    def send(self, messages: Sequence[Message], timeout: float) -> list[BaseException | None]:
        self.logger.warning("sending %d", len(messages))
        return super().send(messages, timeout)


class TestNeverBlocks:
    """Promise: a logging call never waits for the broker. Each transport here is held stuck until teardown, so a
    call that waited would never return; the generous deadlines only say when to stop waiting for it."""

    def test_emit_returns_while_open_blocks(self, make_handler: MakeHandler, make_logger: MakeLogger,
                                            stuck_open: Callable[..., StuckOpenTransport]) -> None:
        """logger.info returns while the transport's open() (started by an earlier record) is still stuck."""
        transport = stuck_open()
        handler = make_handler(transport=transport, close_timeout=0.1)
        logger = make_logger(handler)
        logger.info("first")  # starts the worker, which then blocks in open()
        assert transport.entered.wait(10)
        finishes_within(10, lambda: logger.info("second"))
        assert (transport.opened, handler.stats().seen) == (0, 2)

    def test_first_emit_returns_while_open_blocks(self, make_handler: MakeHandler, make_logger: MakeLogger,
                                                  stuck_open: Callable[..., StuckOpenTransport]) -> None:
        """The very first logger.info (which starts the worker) returns though open() never does."""
        transport = stuck_open()
        handler = make_handler(transport=transport, close_timeout=0.1)
        logger = make_logger(handler)
        finishes_within(10, lambda: logger.info("first"))
        assert transport.entered.wait(10)
        assert (transport.opened, handler.stats().seen) == (0, 1)

    def test_emit_returns_when_queue_full_and_stuck(self, make_handler: MakeHandler, make_logger: MakeLogger,
                                                    gated: Callable[..., GatedTransport]) -> None:
        """With a stuck transport and a full queue (drop_newest), 50 more records return, 45 counted queue_full."""
        transport = gated()
        handler = make_handler(transport=transport, queue_max_records=5)
        logger = make_logger(handler)
        logger.info("first")
        assert transport.entered.wait(5)

        def log_more() -> None:
            for i in range(50):
                logger.info("more %d", i)

        finishes_within(10, log_more)
        assert not transport.gate.is_set()  # returned while the transport was still stuck
        assert handler.stats().dropped == {"queue_full": 45}

    def test_handler_lock_not_held_while_sending(self, make_handler: MakeHandler, make_logger: MakeLogger,
                                                 gated: Callable[..., GatedTransport]) -> None:
        """Another thread can log through the handler while the worker is stuck in send()."""
        transport = gated()
        logger = make_logger(make_handler(transport=transport))
        logger.info("first")
        assert transport.entered.wait(5)
        finishes_within(10, lambda: logger.info("other thread"))

    def test_block_overflow_bounded_for_one_caller(self, make_handler: MakeHandler, make_logger: MakeLogger,
                                                   gated: Callable[..., GatedTransport]) -> None:
        """overflow="block": a call on a full queue with a stuck transport gives up (queue_full) after block_timeout.

        Promise checked: the call waits at least block_timeout for space, then returns without the broker; the
        upper bound is block_timeout plus seconds, and the transport stays stuck for the whole test.
        """
        transport = gated()
        handler = make_handler(transport=transport, queue_max_records=1, overflow="block", block_timeout=0.3)
        logger = make_logger(handler)
        logger.info("in flight")
        assert transport.entered.wait(5)
        logger.info("queued")
        started = time.monotonic()
        finishes_within(0.3 + 10, lambda: logger.info("must wait"))
        assert time.monotonic() - started >= 0.3 * 0.9  # a lower bound only grows under load
        assert handler.stats().dropped == {"queue_full": 1}

    def test_block_overflow_bounded_for_concurrent_callers(self, make_handler: MakeHandler,
                                                           make_logger: MakeLogger,
                                                           gated: Callable[..., GatedTransport]) -> None:
        """overflow='block': 4 concurrent calls on a full queue wait side by side, not behind each other's timeout.

        Promise checked: each call returns within its own block_timeout (2 s) plus seconds: all four are done
        within 2 + 4 s, where waiting in turn would take 4 x 2 = 8 s. The transport stays stuck throughout.
        """
        transport = gated()
        handler = make_handler(transport=transport, queue_max_records=1, overflow="block", block_timeout=2.0)
        logger = make_logger(handler)
        logger.info("in flight")
        assert transport.entered.wait(5)
        logger.info("queued")
        threads = [threading.Thread(target=logger.info, args=("must wait",), daemon=True) for _ in range(4)]
        deadline = time.monotonic() + 2.0 + 4.0
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert [t.is_alive() for t in threads] == [False] * 4
        assert not transport.gate.is_set()
        assert handler.stats().dropped == {"queue_full": 4}


class TestNeverRaises:
    def test_raising_key_callable(self, make_handler: MakeHandler, make_logger: MakeLogger,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
        """A key callable that raises does not make logging raise; the record is counted internal_error."""
        monkeypatch.setattr(logging, "raiseExceptions", False)
        handler = make_handler(key=lambda e: e["nope"])
        make_logger(handler).info("x")
        assert handler.stats().dropped == {"internal_error": 1}

    def test_internal_error_goes_to_handle_error(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """An internal failure in emit is passed to handleError with the record."""
        handler = make_handler(key=lambda e: 1 / 0)
        seen: list[logging.LogRecord] = []
        handler.handleError = seen.append  # type: ignore[method-assign]
        make_logger(handler).info("boom-record")
        assert [r.getMessage() for r in seen] == ["boom-record"]

    def test_emit_direct_with_bad_args(self, make_handler: MakeHandler) -> None:
        """emit() of a record whose args do not match its format ships it (formatting failure noted)."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport)
        handler.emit(logging.LogRecord("n", logging.INFO, __file__, 1, "%d %d", ("a",), None))
        assert handler.flush(5)
        assert "[message formatting failed" in json.loads(transport.values()[0])["msg"]


class TestClientRecords:
    @pytest.mark.parametrize("name", ["kafka", "kafka.conn", "kafka.producer.sender"])
    def test_client_loggers_not_shipped(self, make_handler: MakeHandler, make_logger: MakeLogger,
                                        name: str) -> None:
        """Records from kafka-python's loggers (kafka, kafka.*) are never shipped nor counted."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport)
        make_logger(handler, name=name).warning("client chatter")
        assert handler.flush(5)
        assert (transport.values(), handler.stats().seen) == ([], 0)

    @pytest.mark.parametrize("name", ["kafkalog.x", "kafka_app", "kafkaesque", "app.kafka.conn"])
    def test_similar_names_shipped(self, make_handler: MakeHandler, make_logger: MakeLogger, name: str) -> None:
        """Loggers that only look like the client's (kafkalog.x, kafka_app, ...) are shipped."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport)
        make_logger(handler, name=name).warning("app record")
        assert handler.flush(5)
        assert [json.loads(v)["logger"] for v in transport.values()] == [name]

    def test_client_records_via_registered_logger_tree(self, make_handler: MakeHandler) -> None:
        """With the handler on a registered ancestor logger, kafka.conn records propagating up are skipped."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport)
        parent = logging.getLogger("kafka")
        child = logging.getLogger("kafka.conn")
        old = (parent.level, parent.propagate, child.level)
        parent.addHandler(handler)
        parent.propagate = False
        parent.setLevel(logging.DEBUG)
        try:
            child.debug("connecting")
        finally:
            parent.removeHandler(handler)
            parent.setLevel(old[0])
            parent.propagate = old[1]
        assert (handler.flush(5), transport.values()) == (True, [])

    def test_records_from_worker_thread_not_shipped(self, make_handler: MakeHandler,
                                                    make_logger: MakeLogger) -> None:
        """A record logged on the worker thread (inside send) is not shipped: no feedback loop."""
        logger = make_logger(name="app")
        transport = LoggingTransport(logger)
        handler = make_handler(transport=transport)
        logger.addHandler(handler)
        logger.info("one")
        assert handler.flush(5)  # the worker's own record was handled inside send(), before this returns
        assert ([json.loads(v)["msg"] for v in transport.values()], handler.stats().seen) == (["one"], 1)


class TestLifecycle:
    def test_flush_true(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """flush() returns True once the records logged before it are delivered (and they are)."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport)
        logger = make_logger(handler)
        for i in range(3):
            logger.info("x%d", i)
        assert handler.flush(5) is True
        assert [json.loads(v)["msg"] for v in transport.values()] == ["x0", "x1", "x2"]
        assert (handler.stats().delivered, handler.stats().pending) == (3, 0)

    def test_flush_cuts_the_linger_short(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """flush() right after a record never waits out ``linger`` (10 s here): the worker does not linger while a
        flush waits, even when the flush's wake-up and the record's arrive together."""
        for _ in range(20):
            transport = MemoryTransport()
            handler = make_handler(transport=transport, linger=10)
            make_logger(handler).info("one")
            assert handler.flush(5) is True
            assert len(transport.values()) == 1
            handler.close(1)

    def test_flush_false_when_stuck(self, make_handler: MakeHandler, make_logger: MakeLogger,
                                    gated: Callable[..., GatedTransport]) -> None:
        """flush(timeout) returns False while the transport is stuck."""
        transport = gated()
        handler = make_handler(transport=transport)
        make_logger(handler).info("x")
        assert transport.entered.wait(5)
        assert handler.flush(0.1) is False

    def test_close_sets_report(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """close() drains and stores close_report with the delivered count."""
        handler = make_handler()
        make_logger(handler).info("x")
        handler.close(2)
        assert handler.close_report is not None
        assert (handler.close_report.delivered, handler.close_report.left) == (1, 0)

    def test_close_bounded_when_stuck(self, make_handler: MakeHandler, make_logger: MakeLogger,
                                      gated: Callable[..., GatedTransport]) -> None:
        """handler.close(0.2) returns with a stuck transport; close_report.left counts what was left.

        Promise checked: close(timeout) returns within its timeout (plus seconds of slack) whatever the broker does.
        """
        transport = gated()
        handler = make_handler(transport=transport)
        logger = make_logger(handler)
        logger.info("x")
        assert transport.entered.wait(5)
        logger.info("y")
        finishes_within(0.2 + 5, lambda: handler.close(0.2))
        assert handler.close_report is not None
        assert handler.close_report.left == 2

    def test_close_twice(self, make_handler: MakeHandler) -> None:
        """Closing twice keeps the first report and does not raise."""
        handler = make_handler()
        handler.close(1)
        first = handler.close_report
        handler.close(1)
        assert handler.close_report is first

    def test_emit_after_close_counted_closed(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """A record logged after close() is counted as dropped 'closed'."""
        handler = make_handler()
        logger = make_logger(handler)
        handler.close(1)
        logger.info("late")
        assert handler.stats().dropped == {"closed": 1}

    def test_context_manager_closes(self) -> None:
        """Leaving a 'with KafkaHandler(...)' block closes the handler."""
        with KafkaHandler(BOOTSTRAP, "logs", transport=MemoryTransport(), linger=0, handle_sigterm=False) as handler:
            pass
        assert handler.stats().closed is True

    def test_level_filters_before_counting(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """Records below the handler level are neither shipped nor counted."""
        handler = make_handler(level=logging.WARNING)
        logger = make_logger(handler)
        logger.info("quiet")
        logger.warning("loud")
        assert handler.flush(5)
        assert handler.stats().seen == 1

    def test_repr(self, make_handler: MakeHandler) -> None:
        """repr names the topic, the servers and the level."""
        assert repr(make_handler(topic="app-logs", level="INFO")) == "<KafkaHandler app-logs @ 127.0.0.1:9 (INFO)>"

    def test_repr_dynamic_topic(self, make_handler: MakeHandler) -> None:
        """repr of a templated topic says the topic is chosen per record."""
        assert "<per-record topic>" in repr(make_handler(topic="logs-{type}"))

    def test_basic_config_keeps_json(self, make_handler: MakeHandler) -> None:
        """logging.basicConfig(handlers=[handler]) does not replace the handler's JSON formatting."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport)
        root = logging.getLogger()
        saved = (root.handlers[:], root.level)
        root.handlers = []
        try:
            logging.basicConfig(handlers=[handler], level=logging.INFO)
            logging.getLogger("kafkalog_unit.basic").warning("via root")
        finally:
            root.handlers = saved[0]
            root.setLevel(saved[1])
        assert handler.flush(5)
        assert json.loads(transport.values()[0])["msg"] == "via root"

    def test_dict_config(self) -> None:
        """logging.config.dictConfig can build the handler with keyword options."""
        logging.config.dictConfig({
            "version": 1, "disable_existing_loggers": False,
            "handlers": {"kafka": {"class": "kafkalog.KafkaHandler", "bootstrap_servers": BOOTSTRAP,
                                   "topic": "dict-logs", "transport": "memory", "linger": 0, "level": "INFO",
                                   "handle_sigterm": False}},
            "loggers": {"kafkalog_unit.dictconfig": {"handlers": ["kafka"], "propagate": False}},
        })
        logger = logging.getLogger("kafkalog_unit.dictconfig")
        handler = logger.handlers[0]
        try:
            logger.warning("configured")
            assert isinstance(handler, KafkaHandler)
            assert (handler.flush(5), handler.stats().delivered, handler.config.fixed_topic) == (True, 1, "dict-logs")
        finally:
            logger.removeHandler(handler)
            handler.close(1)


# --- property: whatever is logged, logging never raises and every record is accounted for -------------------


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


class BadEverything:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    def __str__(self) -> str:
        raise RuntimeError("str exploded")


class BadStrError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str exploded")


TEXT = st.lists(st.one_of(st.characters(), st.characters(categories=["Cs"]),
                          st.sampled_from(["%", "%s", "%d", "%(k)s", "%%", "{", "}", "\x00", "\n"])),
                max_size=30).map("".join)
LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**64, max_value=2**300).map(lambda n: -n),
    st.integers(min_value=2**64, max_value=2**300), st.floats(allow_nan=True, allow_infinity=True),
    st.just(math.nan), TEXT, st.binary(max_size=30), st.decimals(allow_nan=True),
    st.datetimes(timezones=st.one_of(st.none(), st.just(dt.timezone.utc))), st.sets(st.integers(), max_size=3),
    st.frozensets(TEXT, max_size=2), st.builds(BadRepr), st.builds(BadEverything), st.builds(BadStrError),
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(st.one_of(TEXT, st.integers()), inner, max_size=4)),
    max_leaves=12)
EXTRA_KEYS = st.from_regex(r"x_[a-z0-9_]{0,8}", fullmatch=True)
ARGS = st.one_of(st.lists(VALUES, max_size=3).map(tuple), st.dictionaries(st.just("k"), VALUES, max_size=1).map(
    lambda d: (d,)))


def add_cycles(obj: Any) -> bool:
    """Make the first list or dict found inside ``obj`` contain itself; True if one was found."""
    if isinstance(obj, list):
        obj.append(obj)
        return True
    if isinstance(obj, dict):
        for value in list(obj.values()):
            if add_cycles(value):
                return True
        obj["cycle"] = obj
        return True
    if isinstance(obj, tuple):
        return any(add_cycles(v) for v in obj)
    return False


RECORDS = st.lists(st.tuples(TEXT, ARGS, st.dictionaries(EXTRA_KEYS, VALUES, max_size=4), st.booleans(),
                             st.booleans()), min_size=1, max_size=4)


def _strict_loads(data: bytes) -> Any:
    def no_constants(name: str) -> Any:
        raise ValueError(name)

    return json.loads(data.decode("utf-8"), parse_constant=no_constants)


class TestEmitProperty:
    @settings(max_examples=100, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(records=RECORDS, max_bytes=st.sampled_from([1024, 4096, 1_000_000]),
           oversize=st.sampled_from(["truncate", "drop"]))
    def test_every_record_delivered_as_json_or_counted(self, records: list[Any], max_bytes: int,
                                                       oversize: str) -> None:
        """Any message/args/extras/exception: logging never raises; each record is valid JSON or counted dropped."""
        transport = MemoryTransport()
        handler = KafkaHandler(BOOTSTRAP, "logs", transport=transport, linger=0, max_message_bytes=max_bytes,
                               queue_max_bytes=max(max_bytes, 1 << 20), oversize=oversize,
                               static_fields={"svc": "prop"}, on_error=lambda m: None,
                               handle_sigterm=False)
        logger = logging.Logger("kafkalog_unit.property", logging.DEBUG)
        logger.addHandler(handler)
        handler.handleError = lambda record: None  # type: ignore[method-assign]
        try:
            for msg, args, extras, cyclic, with_exc in records:
                if cyclic:
                    add_cycles(extras)
                    for arg in args:
                        add_cycles(arg)
                if with_exc:
                    try:
                        raise BadStrError() if cyclic else ValueError(msg)
                    except Exception:
                        logger.error(msg, *args, extra=extras, exc_info=True)
                else:
                    logger.info(msg, *args, extra=extras)
            assert handler.flush(5)
            stats = handler.stats()
            values = transport.values()
            assert stats.seen == len(records)
            assert stats.delivered == len(values)
            assert len(values) + stats.dropped_total == len(records)
            assert_invariant(stats)
            for value in values:
                record = _strict_loads(value)
                assert set(record) >= CONTRACT_KEYS
                assert record["svc"] == "prop"
                assert len(value) <= max_bytes
        finally:
            handler.close(1)

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(records=RECORDS)
    def test_no_internal_errors_for_str_messages(self, records: list[Any]) -> None:
        """With str messages and any args/extras, no record is lost as internal_error."""
        transport = MemoryTransport()
        handler = KafkaHandler(BOOTSTRAP, "logs", transport=transport, linger=0, on_error=lambda m: None,
                               handle_sigterm=False)
        logger = logging.Logger("kafkalog_unit.property", logging.DEBUG)
        logger.addHandler(handler)
        handler.handleError = lambda record: None  # type: ignore[method-assign]
        try:
            for msg, args, extras, cyclic, _ in records:
                if cyclic:
                    add_cycles(extras)
                logger.info(msg, *args, extra=extras)
            assert handler.flush(5)
            assert handler.stats().dropped == {}
        finally:
            handler.close(1)


class TestDeliveryErrorsSurface:
    def test_stats_show_drop_reason(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """A non-retriable transport error shows up in handler.stats().dropped under its reason."""
        handler = make_handler(transport=MemoryTransport(
            outcome=lambda m: DeliveryError("not_authorized", "topic denied", retriable=False)))
        make_logger(handler).info("x")
        assert handler.flush(5)
        assert handler.stats().dropped == {"not_authorized": 1}


class TestKafkaPythonSend:
    def test_metadata_timeout_holds_back_only_that_topic(self) -> None:
        """A topic whose metadata never comes fails alone; records for other topics in the batch still go."""
        from kafka.errors import KafkaTimeoutError

        from kafkalog.transports.kafka_python import KafkaPythonTransport
        from kafkalog.typing import Message

        class Done:
            def get(self, timeout: float) -> None:
                return None

        class Producer:
            def __init__(self) -> None:
                self.sent: list[str] = []
                self.missing_calls = 0

            def send(self, topic: str, **kwargs: object) -> Done:
                if topic == "missing":
                    self.missing_calls += 1
                    raise KafkaTimeoutError("Failed to update metadata after 1.0 secs.")
                self.sent.append(topic)
                return Done()

        transport = KafkaPythonTransport({})
        producer = Producer()
        transport._producer = producer
        batch = [Message(t, None, b"v", 1) for t in ("missing", "ok", "missing", "ok", "other")]
        results = transport.send(batch, timeout=5)
        assert producer.sent == ["ok", "ok", "other"]
        assert producer.missing_calls == 1  # the second record for it does not wait again
        assert [getattr(r, "reason", None) for r in results] == ["timeout", None, "timeout", None, None]
        assert all(r.retriable for r in results if r is not None)
