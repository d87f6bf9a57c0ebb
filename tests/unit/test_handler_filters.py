"""logging filters on KafkaHandler: what they reject is neither shipped nor counted; what they change is shipped."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import pytest

from kafkalog import KafkaHandler
from kafkalog.transports import MemoryTransport

MakeHandler = Callable[..., KafkaHandler]
MakeLogger = Callable[..., logging.Logger]
# Before 3.12 a filter's result is only tested for truth, so the original record ships: test_python_versions.py.
ONLY_SINCE_312 = pytest.mark.skipif(sys.version_info < (3, 12),
                                    reason="filters may return a replacement LogRecord since 3.12")


def shipped(transport: MemoryTransport) -> list[dict[str, Any]]:
    return [json.loads(value) for value in transport.values()]


class TestRejecting:
    def test_filter_object_rejects_records(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """A logging.Filter on the handler that rejects some records: only the others are shipped and counted."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport)

        class NoHealthChecks(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                return not record.getMessage().startswith("GET /health")

        handler.addFilter(NoHealthChecks())
        logger = make_logger(handler)
        for path in ("/health", "/orders", "/health", "/pay"):
            logger.info("GET %s", path)
        assert handler.flush(5)
        assert [e["msg"] for e in shipped(transport)] == ["GET /orders", "GET /pay"]
        stats = handler.stats()
        assert (stats.seen, stats.delivered, stats.dropped) == (2, 2, {})

    def test_callable_filter_rejects_records(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """A plain callable used as a filter works like a Filter object."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport)
        handler.addFilter(lambda record: record.levelno >= logging.WARNING)
        logger = make_logger(handler)
        logger.info("quiet")
        logger.warning("loud")
        assert handler.flush(5)
        assert [e["msg"] for e in shipped(transport)] == ["loud"]
        assert handler.stats().seen == 1

    def test_filter_name_limits_to_a_logger_subtree(self, make_handler: MakeHandler,
                                                    make_logger: MakeLogger) -> None:
        """logging.Filter("app.db") on the handler ships app.db and app.db.* records only."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport)
        handler.addFilter(logging.Filter("app.db"))
        for name in ("app.db", "app.db.pool", "app.web", "app.dbx"):
            make_logger(handler, name=name).info("from %s", name)
        assert handler.flush(5)
        assert [e["logger"] for e in shipped(transport)] == ["app.db", "app.db.pool"]

    def test_client_records_never_reach_user_filters(self, make_handler: MakeHandler,
                                                     make_logger: MakeLogger) -> None:
        """kafka-python's own records are skipped before user filters run: a filter that accepts all never sees them."""
        seen_by_filter: list[str] = []
        handler = make_handler()
        handler.addFilter(lambda record: seen_by_filter.append(record.name) or True)
        make_logger(handler, name="kafka.conn").warning("client chatter")
        make_logger(handler, name="app").warning("app record")
        assert handler.flush(5)
        assert seen_by_filter == ["app"]


class TestChanging:
    def test_filter_that_adds_an_attribute_ships_it(self, make_handler: MakeHandler,
                                                    make_logger: MakeLogger) -> None:
        """A filter that sets an attribute on the record (returning True) ships it among the fields."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport)

        def add_tenant(record: logging.LogRecord) -> bool:
            record.tenant = "acme"
            return True

        handler.addFilter(add_tenant)
        make_logger(handler).info("x", extra={"order": 7})
        assert handler.flush(5)
        assert shipped(transport)[0]["fields"] == {"order": 7, "tenant": "acme"}

    @ONLY_SINCE_312
    def test_filter_returning_a_replacement_record_ships_the_replacement(self, make_handler: MakeHandler,
                                                                         make_logger: MakeLogger) -> None:
        """Python 3.12+: a filter returning a new LogRecord ships that record; the original stays unchanged."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport)
        originals: list[logging.LogRecord] = []

        def redact(record: logging.LogRecord) -> logging.LogRecord:
            originals.append(record)
            replacement = logging.makeLogRecord(record.__dict__)
            replacement.msg, replacement.args = "card [redacted]", None
            replacement.redacted = True
            return replacement

        handler.addFilter(redact)
        make_logger(handler).info("card %s", "4111-1111-1111-1111")
        assert handler.flush(5)
        [event] = shipped(transport)
        assert (event["msg"], event["fields"].get("redacted")) == ("card [redacted]", True)
        assert originals[0].getMessage() == "card 4111-1111-1111-1111"
        assert not hasattr(originals[0], "redacted")

    @ONLY_SINCE_312
    def test_replacement_record_is_what_handle_returns(self, make_handler: MakeHandler) -> None:
        """Python 3.12+: handler.handle() returns the replacement record, as logging.Handler.handle does."""
        handler = make_handler()
        replacement = logging.makeLogRecord({"msg": "new", "name": "app"})
        handler.addFilter(lambda record: replacement)
        result = handler.handle(logging.makeLogRecord({"msg": "old", "name": "app"}))
        assert result is replacement
