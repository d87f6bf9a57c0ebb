"""KafkaSink (loguru): ships records, skips the client's own, never blocks or raises, lifecycle, property."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkalog import KafkaSink, not_from_kafka_client
from kafkalog.transports import MemoryTransport
from kafkalog.typing import Message

from .conftest import (
    BOOTSTRAP,
    CONTRACT_KEYS,
    GatedTransport,
    StuckOpenTransport,
    assert_invariant,
    finishes_within,
    wait_until,
)
from .test_handler_unit import VALUES, add_cycles

pytest.importorskip("loguru")

MakeSink = Callable[..., KafkaSink]


def named(logger: Any, name: str) -> Any:
    """A loguru logger whose records carry ``name`` (as if logged from that module)."""
    return logger.patch(lambda record: record.update(name=name))


class LoguruLoggingTransport(MemoryTransport):
    """A transport that logs through a loguru logger while sending (on the worker thread)."""

    def __init__(self, logger: Any) -> None:
        super().__init__()
        self.logger = logger

    def send(self, messages: Sequence[Message], timeout: float) -> list[BaseException | None]:
        self.logger.warning("sending {}", len(messages))  # noqa: PLE1205 - loguru braces
        return super().send(messages, timeout)


class TestShipping:
    def test_message_delivered(self, loguru_logger: Any, make_sink: MakeSink) -> None:
        """A loguru message reaches the transport as one JSON record."""
        transport = MemoryTransport()
        sink = make_sink(transport=transport)
        loguru_logger.add(sink, catch=False)
        loguru_logger.info("hello")
        assert sink.drain(5)
        assert [json.loads(v)["msg"] for v in transport.values()] == ["hello"]

    def test_opened_on_worker_thread(self, loguru_logger: Any, make_sink: MakeSink) -> None:
        """The transport is opened and used on the worker thread only."""
        transport = MemoryTransport()
        sink = make_sink(transport=transport)
        loguru_logger.add(sink, catch=False)
        loguru_logger.info("hello")
        assert sink.drain(5)
        assert transport.threads == {"kafkalog-logs"}

    def test_level_filter_respected(self, loguru_logger: Any, make_sink: MakeSink) -> None:
        """loguru's level= on add() keeps lower records away from the sink."""
        sink = make_sink()
        loguru_logger.add(sink, level="WARNING", catch=False)
        loguru_logger.info("quiet")
        loguru_logger.warning("loud")
        assert sink.drain(5)
        assert sink.stats().seen == 1

    def test_enqueue_mode(self, loguru_logger: Any, make_sink: MakeSink) -> None:
        """With loguru's enqueue=True, records are still shipped."""
        transport = MemoryTransport()
        sink = make_sink(transport=transport)
        loguru_logger.add(sink, enqueue=True, catch=False)
        loguru_logger.bind(k=1).info("queued")
        loguru_logger.complete()
        assert sink.drain(5)
        assert [json.loads(v)["fields"] for v in transport.values()] == [{"k": 1}]

    def test_template_topic(self, loguru_logger: Any, make_sink: MakeSink) -> None:
        """A topic template routes by the loguru record's fields."""
        transport = MemoryTransport()
        sink = make_sink(transport=transport, topic="t-{fields.tenant}")
        loguru_logger.add(sink, catch=False)
        loguru_logger.bind(tenant="acme").info("x")
        assert sink.drain(5)
        assert transport.messages[0].topic == "t-acme"


class TestClientRecords:
    @pytest.mark.parametrize("name", ["kafka", "kafka.conn"])
    def test_client_records_skipped(self, loguru_logger: Any, make_sink: MakeSink, name: str) -> None:
        """Records named kafka / kafka.* (kafka-python intercepted into loguru) are skipped and not counted."""
        transport = MemoryTransport()
        sink = make_sink(transport=transport)
        loguru_logger.add(sink, catch=False)
        named(loguru_logger, name).warning("client chatter")
        assert sink.drain(5)
        assert (transport.values(), sink.stats().seen) == ([], 0)

    @pytest.mark.parametrize("name", ["kafkalog.x", "kafka_app"])
    def test_similar_names_shipped(self, loguru_logger: Any, make_sink: MakeSink, name: str) -> None:
        """Records from kafkalog.x or kafka_app are shipped."""
        transport = MemoryTransport()
        sink = make_sink(transport=transport)
        loguru_logger.add(sink, catch=False)
        named(loguru_logger, name).warning("app")
        assert sink.drain(5)
        assert [json.loads(v)["logger"] for v in transport.values()] == [name]

    @pytest.mark.parametrize(("name", "kept"), [("kafka", False), ("kafka.conn", False), ("kafkalog.x", True),
                                                ("kafka_app", True), (None, True)])
    def test_not_from_kafka_client_filter(self, name: str | None, kept: bool) -> None:
        """not_from_kafka_client keeps everything except kafka / kafka.* records."""
        assert not_from_kafka_client({"name": name}) is kept

    def test_records_from_worker_thread_skipped(self, loguru_logger: Any, make_sink: MakeSink) -> None:
        """A loguru record logged on the worker thread (inside send) is not shipped: no feedback loop."""
        transport = LoguruLoggingTransport(loguru_logger)
        sink = make_sink(transport=transport)
        loguru_logger.add(sink, catch=False)
        loguru_logger.info("one")
        assert sink.drain(5)  # the worker's own record was handled inside send(), before this returns
        assert ([json.loads(v)["msg"] for v in transport.values()], sink.stats().seen) == (["one"], 1)


class TestNeverBlocksOrRaises:
    def test_log_returns_while_open_blocks(self, loguru_logger: Any, make_sink: MakeSink,
                                           stuck_open: Callable[..., StuckOpenTransport]) -> None:
        """logger.info returns while the transport's open() never does (promise: logging never waits for the broker).

        The transport stays stuck until teardown, so a call that waited for it would never return.
        """
        transport = stuck_open()
        sink = make_sink(transport=transport)
        loguru_logger.add(sink, catch=False)

        def log_two() -> None:
            loguru_logger.info("first")
            loguru_logger.info("second")

        finishes_within(10, log_two)
        assert transport.entered.wait(10)
        assert (transport.opened, sink.stats().seen) == (0, 2)

    def test_write_without_record_counted(self, make_sink: MakeSink) -> None:
        """write() of something that is not a loguru message does not raise; it counts internal_error."""
        sink = make_sink()
        sink.write("plain text, no .record")
        assert sink.stats().dropped == {"internal_error": 1}

    def test_write_failure_reported(self, make_sink: MakeSink) -> None:
        """A write() failure is reported to on_error."""
        errors: list[str] = []
        sink = make_sink(on_error=errors.append)
        sink.write("plain text, no .record")
        assert wait_until(lambda: bool(errors))  # written by the worker, never on the logging thread
        assert sink.drain(5)  # anything else the worker had to report is written by now
        assert len(errors) == 1
        assert "internal_error" in errors[0]

    def test_raising_topic_callable(self, loguru_logger: Any, make_sink: MakeSink) -> None:
        """A topic callable that raises does not make loguru raise (catch=False); the drop is counted."""
        sink = make_sink(topic=lambda e: 1 / 0)
        loguru_logger.add(sink, catch=False)
        loguru_logger.info("x")
        assert sink.stats().dropped == {"internal_error": 1}


class TestLifecycle:
    def test_drain_true(self, loguru_logger: Any, make_sink: MakeSink) -> None:
        """drain() returns True once the messages written before it are delivered (and they are)."""
        transport = MemoryTransport()
        sink = make_sink(transport=transport)
        loguru_logger.add(sink, catch=False)
        for i in range(3):
            loguru_logger.info(f"x{i}")
        assert sink.drain(5) is True
        assert [json.loads(v)["msg"] for v in transport.values()] == ["x0", "x1", "x2"]
        assert (sink.stats().delivered, sink.stats().pending) == (3, 0)

    def test_drain_false_when_stuck(self, loguru_logger: Any, make_sink: MakeSink,
                                    gated: Callable[..., GatedTransport]) -> None:
        """drain(timeout) returns False while the transport is stuck."""
        transport = gated()
        sink = make_sink(transport=transport)
        loguru_logger.add(sink, catch=False)
        loguru_logger.info("x")
        assert transport.entered.wait(5)
        assert sink.drain(0.1) is False

    def test_remove_closes_sink(self, loguru_logger: Any, make_sink: MakeSink) -> None:
        """logger.remove(id) calls stop(), which closes the sink after draining."""
        transport = MemoryTransport()
        sink = make_sink(transport=transport, linger=5)
        handler_id = loguru_logger.add(sink, catch=False)
        loguru_logger.info("x")
        loguru_logger.remove(handler_id)
        assert sink.close_report is not None
        assert (sink.stats().closed, sink.close_report.delivered, len(transport.values())) == (True, 1, 1)

    def test_close_bounded_when_stuck(self, loguru_logger: Any, make_sink: MakeSink,
                                      gated: Callable[..., GatedTransport]) -> None:
        """close(0.2) returns with a stuck transport; the report counts what was left.

        Promise checked: close(timeout) returns within its timeout (plus seconds of slack) whatever the broker does.
        """
        transport = gated()
        sink = make_sink(transport=transport)
        loguru_logger.add(sink, catch=False)
        loguru_logger.info("x")
        assert transport.entered.wait(5)
        loguru_logger.info("y")
        report = finishes_within(0.2 + 5, lambda: sink.close(0.2))
        assert report.left == 2

    def test_close_twice(self, make_sink: MakeSink) -> None:
        """Closing twice returns the same report."""
        sink = make_sink()
        assert sink.close(1) is sink.close(1)

    def test_write_after_close_counted(self, loguru_logger: Any, make_sink: MakeSink) -> None:
        """A message written after close() is counted as dropped 'closed'."""
        sink = make_sink()
        loguru_logger.add(sink, catch=False)
        sink.close(1)
        loguru_logger.info("late")
        assert sink.stats().dropped == {"closed": 1}

    def test_repr(self, make_sink: MakeSink) -> None:
        """repr names the topic and servers."""
        assert repr(make_sink(topic="app-logs")) == "<KafkaSink app-logs @ 127.0.0.1:9>"

    def test_has_no_flush_method(self) -> None:
        """The sink has no flush() (loguru would call it after every message); drain() waits instead."""
        assert not hasattr(KafkaSink, "flush")


TEXT = st.lists(st.one_of(st.characters(), st.characters(categories=["Cs"]),
                          st.sampled_from(["{", "}", "{0}", "%s", "<red>", "\x00", "\n"])), max_size=30).map("".join)
EXTRA_KEYS = st.from_regex(r"x_[a-z0-9_]{0,8}", fullmatch=True)
RECORDS = st.lists(st.tuples(TEXT, st.dictionaries(EXTRA_KEYS, VALUES, max_size=4), st.booleans(), st.booleans()),
                   min_size=1, max_size=4)


def _strict_loads(data: bytes) -> Any:
    def no_constants(name: str) -> Any:
        raise ValueError(name)

    return json.loads(data.decode("utf-8"), parse_constant=no_constants)


class TestSinkProperty:
    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(records=RECORDS, max_bytes=st.sampled_from([1024, 1_000_000]))
    def test_every_record_delivered_as_json_or_counted(self, loguru_logger: Any, records: list[Any],
                                                       max_bytes: int) -> None:
        """Any message/extras/exception: loguru logging never raises; each record is valid JSON or counted."""
        transport = MemoryTransport()
        sink = KafkaSink(BOOTSTRAP, "logs", transport=transport, linger=0, max_message_bytes=max_bytes,
                         queue_max_bytes=max(max_bytes, 1 << 20), static_fields={"svc": "prop"},
                         on_error=lambda m: None, handle_sigterm=False)
        handler_id = loguru_logger.add(sink, catch=False, format="{message}")
        try:
            for msg, extras, cyclic, with_exc in records:
                if cyclic:
                    add_cycles(extras)
                bound = loguru_logger.bind(**extras)
                if with_exc:
                    try:
                        raise ValueError(msg)
                    except ValueError:
                        bound.exception(msg)
                else:
                    bound.info(msg)
            assert sink.drain(5)
            stats = sink.stats()
            values = transport.values()
            assert stats.seen == len(records)
            assert len(values) + stats.dropped_total == len(records)
            assert_invariant(stats)
            for value in values:
                record = _strict_loads(value)
                assert set(record) >= CONTRACT_KEYS
                assert len(value) <= max_bytes
        finally:
            loguru_logger.remove(handler_id)


class TestLoguruOptions:
    def test_serialize_of_logger_add_is_reported_once(self, loguru_logger: Any, make_sink: MakeSink) -> None:
        """logger.add(sink, serialize=True) does nothing for the sink: one report says so; records still ship."""
        reports: list[str] = []
        transport = MemoryTransport()
        sink = make_sink(transport=transport, on_error=reports.append)
        loguru_logger.add(sink, serialize=True, catch=False)
        loguru_logger.info("one")
        loguru_logger.info("two")
        assert sink.drain(5)
        wait_until(lambda: bool(reports))
        assert [json.loads(v)["msg"] for v in transport.values()] == ["one", "two"]
        assert len([r for r in reports if "serialize=True) has no effect" in r]) == 1, reports

    def test_plain_logger_add_reports_nothing(self, loguru_logger: Any, make_sink: MakeSink) -> None:
        reports: list[str] = []
        sink = make_sink(transport=MemoryTransport(), on_error=reports.append)
        loguru_logger.add(sink, catch=False)
        loguru_logger.info("one")
        assert sink.drain(5)
        assert reports == []
