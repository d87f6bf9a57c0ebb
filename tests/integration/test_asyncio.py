"""An asyncio application: many tasks logging through one KafkaHandler; every record read back exactly once."""

from __future__ import annotations

import asyncio
import logging

import pytest
from kafka_util import read_sequence
from support import isolated_logger

from kafkalog import KafkaHandler

pytestmark = pytest.mark.integration
TASKS = 200
PER_TASK = 50


def test_many_tasks_logging_each_record_arrives_once(kafka_bootstrap: str, topic: str) -> None:
    """200 tasks on one event loop log 50 records each, yielding between them: all 10,000 arrive, each once."""
    handler = KafkaHandler(kafka_bootstrap, topic, handle_sigterm=False)
    log = isolated_logger("asyncio-app", handler, logging.INFO)

    async def request(task: int) -> None:
        for i in range(PER_TASK):
            log.info("task %d step %d", task, i, extra={"seq": task * PER_TASK + i, "task": task})
            await asyncio.sleep(0)  # hand the loop to the other tasks between records

    async def app() -> None:
        await asyncio.gather(*(request(task) for task in range(TASKS)))

    try:
        asyncio.run(app())
        assert handler.flush(60), handler.stats()
        stats = handler.stats()
    finally:
        handler.close()
    assert (stats.seen, stats.delivered, stats.dropped) == (TASKS * PER_TASK, TASKS * PER_TASK, {}), stats
    check = read_sequence(kafka_bootstrap, topic, TASKS * PER_TASK)
    assert check.each_once, check.summary()
