"""Where Python versions differ under kafkalog (3.10 to 3.13), and what kafkalog makes of each difference.

`make test-versions` runs the unit tests on every supported version; these tests run everywhere (none is skipped)
and state the expected behaviour per version explicitly.
"""

from __future__ import annotations

import asyncio
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
TASK_NAME_ON_RECORDS = sys.version_info >= (3, 12)


def shipped(transport: MemoryTransport) -> list[dict[str, Any]]:
    return [json.loads(value) for value in transport.values()]


class TestTaskName:
    def test_record_from_an_asyncio_task_ships_the_same_keys_on_every_version(
            self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """3.12+ sets LogRecord.taskName (the asyncio task's name; None outside a task); 3.10 and 3.11 have no such
        attribute. kafkalog never ships it as a field, so a record has the same keys on every version."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport)
        seen: list[logging.LogRecord] = []
        handler.addFilter(lambda record: seen.append(record) or True)
        logger = make_logger(handler)

        async def work() -> None:
            logger.info("in a task", extra={"order": 7})

        async def main() -> None:
            await asyncio.create_task(work(), name="checkout-7")

        asyncio.run(main())
        logger.info("outside")
        assert handler.flush(5)
        assert [getattr(record, "taskName", "absent") for record in seen] == (
            ["checkout-7", None] if TASK_NAME_ON_RECORDS else ["absent", "absent"])
        events = shipped(transport)
        assert [e["fields"] for e in events] == [{"order": 7}, {}]
        assert not any("taskName" in e for e in events)

    def test_task_name_as_an_extra(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """extra={"taskName": ...}: 3.12+ refuses it in the logging call itself (KeyError, from stdlib, as for any
        LogRecord attribute); 3.10 and 3.11 accept it, and kafkalog leaves it out of the fields like the other
        LogRecord attribute names (docs/record-format.md, Fields), so records match across versions."""
        transport = MemoryTransport()
        logger = make_logger(make_handler(transport=transport))
        if TASK_NAME_ON_RECORDS:
            with pytest.raises(KeyError, match="taskName"):
                logger.info("named", extra={"taskName": "mine", "order": 7})
            return
        logger.info("named", extra={"taskName": "mine", "order": 7})
        assert logger.handlers[0].flush(5)
        assert [e["fields"] for e in shipped(transport)] == [{"order": 7}]


class TestFilterReturningARecord:
    def test_kafkalog_ships_what_a_stdlib_handler_would_emit(self, make_handler: MakeHandler,
                                                            make_logger: MakeLogger) -> None:
        """A filter returning a new LogRecord: 3.12+ emits the returned record; 3.10 and 3.11 only test it for
        truth and emit the original. kafkalog ships whichever record a stdlib handler would emit."""
        transport = MemoryTransport()
        handler = make_handler(transport=transport)
        emitted: list[logging.LogRecord] = []

        class Recording(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                emitted.append(record)

        def redact(record: logging.LogRecord) -> logging.LogRecord:
            replacement = logging.makeLogRecord(record.__dict__)
            replacement.msg, replacement.args = "card [redacted]", None
            return replacement

        stdlib_handler = Recording()
        for h in (handler, stdlib_handler):
            h.addFilter(redact)
        make_logger(handler, stdlib_handler).info("card %s", "4111-1111-1111-1111")
        assert handler.flush(5)
        expected = "card [redacted]" if sys.version_info >= (3, 12) else "card 4111-1111-1111-1111"
        assert [r.getMessage() for r in emitted] == [expected]
        assert [e["msg"] for e in shipped(transport)] == [expected]
