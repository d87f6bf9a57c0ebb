"""structlog against the real broker: the native processor (KafkaProcessor) and the stdlib path."""

from __future__ import annotations

import logging
import os
import threading

import pytest
from kafka_util import read_records, read_sequence
from support import isolated_logger, python_script

import kafkalog
from kafkalog import KafkaHandler, KafkaProcessor

structlog = pytest.importorskip("structlog")

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _clean_contexts() -> None:
    structlog.contextvars.clear_contextvars()
    kafkalog.clear_context()


class TestKafkaProcessor:
    def test_native_records_arrive_with_fields_exception_and_callsite(self, kafka_bootstrap: str,
                                                                      topic: str) -> None:
        """Bound values, keyword args, structlog.contextvars and kafkalog.bind values land in fields; the
        exception, level, logger, function, file and line are filled in, with no stdlib logger involved."""
        processor = KafkaProcessor(kafka_bootstrap, topic, static_fields={"service": "billing"})
        log = structlog.wrap_logger(
            structlog.ReturnLogger(),
            processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level, processor],
        ).bind(user="alice", action="pay")
        structlog.contextvars.bind_contextvars(request_id="r-1")
        kafkalog.bind(tenant="acme", user="overridden by the call site")

        def checkout() -> int:
            log.info("paid", amount=12.5)
            try:
                {}["card"]
            except KeyError:
                log.exception("no card", attempt=2)
            return checkout.__code__.co_firstlineno + 1

        line = checkout()
        assert processor.flush(30), processor.stats()
        report = processor.close()
        assert report.left == 0
        paid, failed = (r.json() for r in read_records(kafka_bootstrap, topic, 2))
        assert paid["type"] == "info" and paid["action"] == "pay" and paid["msg"] == "paid"
        assert paid["fields"] == {"tenant": "acme", "user": "alice", "request_id": "r-1", "amount": 12.5}
        assert (paid["funcName"], paid["file"], paid["line"]) == ("checkout", __file__, line)
        assert paid["logger"] == __name__
        assert (paid["pid"], paid["thread"]) == (os.getpid(), threading.current_thread().name)
        assert paid["service"] == "billing" and "exception" not in paid
        assert failed["type"] == "error" and failed["msg"] == "no card"
        assert failed["fields"]["attempt"] == 2 and "exc_info" not in failed["fields"]
        assert failed["exception"]["type"] == "KeyError"
        assert failed["exception"]["message"] == "'card'"
        assert 'in checkout\n    {}["card"]' in failed["exception"]["stack"]

    def test_events_logged_before_exit_are_delivered_without_close(self, kafka_bootstrap: str,
                                                                   topic: str) -> None:
        """A process that never closes the processor: the exit hook drains it, every event arrives once."""
        proc = python_script(f"""
            import structlog
            from kafkalog import KafkaProcessor
            structlog.configure(processors=[structlog.processors.add_log_level,
                                            KafkaProcessor("{kafka_bootstrap}", "{topic}", passthrough=False)])
            log = structlog.get_logger()
            for i in range(500):
                log.info("event", seq=i)
            print("LOGGED", flush=True)
        """)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.strip() == "LOGGED"  # passthrough=False: nothing reached structlog's default printer
        check = read_sequence(kafka_bootstrap, topic, 500)
        assert check.each_once, check.summary()


class TestStdlibPath:
    def test_render_to_log_kwargs_into_kafka_handler(self, kafka_bootstrap: str, topic: str) -> None:
        """structlog.stdlib.render_to_log_kwargs into a KafkaHandler: bound values and kwargs arrive in fields."""
        handler = KafkaHandler(kafka_bootstrap, topic)
        std = isolated_logger("billing.api", handler, logging.INFO)
        log = structlog.wrap_logger(
            std, wrapper_class=structlog.stdlib.BoundLogger,
            processors=[structlog.contextvars.merge_contextvars, structlog.stdlib.render_to_log_kwargs],
        ).bind(user="alice")
        structlog.contextvars.bind_contextvars(request_id="r-2")
        log.warning("low stock", sku="A-1", left=3)
        assert handler.flush(30), handler.stats()
        handler.close()
        event = read_records(kafka_bootstrap, topic, 1)[0].json()
        assert (event["type"], event["msg"], event["logger"]) == ("warning", "low stock", "billing.api")
        assert event["fields"] == {"request_id": "r-2", "user": "alice", "sku": "A-1", "left": 3}
