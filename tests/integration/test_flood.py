"""Flood control against the real broker: a flood of one call site ends as a few records whose summaries account
for every record logged; an ERROR logged during the flood arrives."""

from __future__ import annotations

import pytest
from kafka_util import read_records
from loguru import logger
from support import isolated_logger

from kafkalog import KafkaHandler, KafkaProcessor, KafkaSink, RateLimit

pytestmark = pytest.mark.integration

FLOOD = 100_000  # 1,000,000 in bench/safety.py
PER_WINDOW = 50
STEP_EVERY = 10_000  # the test's clock moves one interval on every STEP_EVERY records


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _account(events: list[dict], logged: int) -> None:
    summaries = [e for e in events if e["action"] == "suppressed"]
    shipped = [e for e in events if e["action"] != "suppressed" and e["type"] != "error"]
    held = sum(s["fields"]["suppressed"]["count"] for s in summaries)
    assert shipped and summaries
    assert held + len(shipped) == logged, (held, len(shipped), logged)
    for s in summaries:
        assert s["msg"] == f"suppressed {s['fields']['suppressed']['count']:,} records like this in the last 10 s"
        assert s["fields"]["suppressed"]["first"]["msg"].startswith("item ")
        assert s["fields"]["suppressed"]["last"]["msg"].startswith("item ")
    seqs = sorted(int(e["msg"].split()[1]) for e in shipped)
    assert len(set(seqs)) == len(seqs)


def test_handler_flood(kafka_bootstrap: str, topic: str) -> None:
    clock = Clock()
    handler = KafkaHandler(kafka_bootstrap, topic, handle_sigterm=False,
                           rate_limit=RateLimit(records=PER_WINDOW, interval=10, clock=clock))
    log = isolated_logger("flood.handler", handler)
    for seq in range(FLOOD):
        if seq and seq % STEP_EVERY == 0:
            clock.now += 10
        log.warning("item %d failed", seq)
        if seq == FLOOD // 2:
            log.error("the one error")
    stats = handler.stats()
    handler.close(30)
    assert stats.suppressed == FLOOD - (FLOOD // STEP_EVERY) * PER_WINDOW, stats
    windows = FLOOD // STEP_EVERY
    expected = windows * PER_WINDOW + windows + 1  # shipped, one summary per window, the error
    assert handler.stats().delivered == expected, handler.stats()
    events = [r.json() for r in read_records(kafka_bootstrap, topic, expected, timeout=60)]
    assert len(events) == expected
    assert [e["msg"] for e in events if e["type"] == "error"] == ["the one error"]
    _account(events, FLOOD)


def test_loguru_flood_with_per_logger_override(kafka_bootstrap: str, topic: str) -> None:
    """A logger's own limit (loguru: the module name) applies to it; the count still adds up."""
    clock = Clock()
    sink = KafkaSink(kafka_bootstrap, topic, rate_limit={"records": 1000, "interval": 10, "clock": clock,
                                                         "loggers": {__name__: (PER_WINDOW, 10)}})
    sink_id = logger.add(sink, level="DEBUG")
    logged = 20_000
    try:
        for seq in range(logged):
            if seq and seq % STEP_EVERY == 0:
                clock.now += 10
            logger.info("item {} failed", seq)
    finally:
        logger.remove(sink_id)
    expected = 2 * PER_WINDOW + 2
    assert sink.stats().delivered == expected, sink.stats()
    _account([r.json() for r in read_records(kafka_bootstrap, topic, expected, timeout=60)], logged)


def test_structlog_flood(kafka_bootstrap: str, topic: str) -> None:
    """The structlog processor: the key is the event text; held back events still pass on down the chain."""
    structlog = pytest.importorskip("structlog")
    clock = Clock()
    processor = KafkaProcessor(kafka_bootstrap, topic, rate_limit=RateLimit(records=PER_WINDOW, interval=10,
                                                                            clock=clock))
    log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[processor])
    logged = 2_000
    passed_on = sum(1 for seq in range(logged) if log.warning("item failed", seq=seq) is not None)
    assert passed_on == logged
    processor.close(30)
    expected = PER_WINDOW + 1
    events = [r.json() for r in read_records(kafka_bootstrap, topic, expected, timeout=60)]
    summaries = [e for e in events if e["action"] == "suppressed"]
    assert len(events) == expected and len(summaries) == 1
    assert summaries[0]["fields"]["suppressed"]["count"] + PER_WINDOW == logged
