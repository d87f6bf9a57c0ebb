"""A topic callable that returns None: the record goes to the documented fallback topic, and is counted.

docs/configuration.md: "a callable that returns None gives `unknown`". Not silent: the record is counted
(seen, delivered) like any other and lands in a topic whose name says what happened.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kafkalog import KafkaHandler, KafkaSink
from kafkalog.transports import MemoryTransport

from .conftest import assert_invariant


def test_handler_routes_none_topic_to_unknown(make_handler: Callable[..., KafkaHandler],
                                              make_logger: Callable[..., Any]) -> None:
    """KafkaHandler: records whose topic callable returns None go to "unknown"; the others where it said."""
    transport = MemoryTransport()
    handler = make_handler(transport=transport, topic=lambda event: event["fields"].get("tenant"))
    logger = make_logger(handler)
    logger.info("with tenant", extra={"tenant": "acme"})
    logger.info("without tenant")
    assert handler.flush(5)
    assert [(m.topic, json.loads(m.value)["msg"]) for m in transport.messages] == [
        ("acme", "with tenant"), ("unknown", "without tenant")]
    stats = handler.stats()
    assert (stats.seen, stats.delivered, stats.dropped) == (2, 2, {})
    assert_invariant(stats)


def test_sink_routes_none_topic_to_unknown(loguru_logger: Any, make_sink: Callable[..., KafkaSink]) -> None:
    """KafkaSink: a topic callable returning None sends the record to "unknown", counted as delivered."""
    transport = MemoryTransport()
    sink = make_sink(transport=transport, topic=lambda event: None)
    loguru_logger.add(sink, catch=False)
    loguru_logger.info("no topic")
    assert sink.drain(5)
    assert [m.topic for m in transport.messages] == ["unknown"]
    stats = sink.stats()
    assert (stats.seen, stats.delivered, stats.dropped) == (1, 1, {})
