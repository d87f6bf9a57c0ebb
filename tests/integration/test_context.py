"""Bound context (kafkalog.bind / bound) against the real broker: each asyncio task and thread sees its own."""

from __future__ import annotations

import asyncio
import threading

import pytest
from kafka_util import check_sequence, read_records
from loguru import logger
from support import isolated_logger

import kafkalog
from kafkalog import KafkaHandler, KafkaSink

pytestmark = pytest.mark.integration

TASKS = 8
PER_TASK = 25


@pytest.fixture(autouse=True)
def _clean_context() -> None:
    kafkalog.clear_context()


def _check_isolated(records: list, expected: int) -> None:
    """Every record carries the request id of the task that logged it, and only that task's values."""
    events = [r.json() for r in records]
    check = check_sequence((e["fields"]["seq"] for e in events), expected)
    assert check.each_once, check.summary()
    for event in events:
        fields = event["fields"]
        assert fields["request_id"] == f"req-{fields['seq'] // PER_TASK}", fields
        assert fields["app"] == "shop"  # bound before the tasks started: inherited by each
        assert fields["step"] == fields["seq"] % PER_TASK
        assert "leak" not in fields


class TestContextIsolation:
    def test_asyncio_tasks_each_ship_their_own_values(self, kafka_bootstrap: str, topic: str) -> None:
        """Interleaved asyncio tasks, each inside bound(request_id=...): every record has its own task's id."""
        handler = KafkaHandler(kafka_bootstrap, topic)
        log = isolated_logger("ctx.asyncio", handler)

        async def request(n: int) -> None:
            with kafkalog.bound(request_id=f"req-{n}"):
                for step in range(PER_TASK):
                    kafkalog.bind(step=step)
                    log.info("step", extra={"seq": n * PER_TASK + step})
                    await asyncio.sleep(0)  # let the other tasks run between our records

        async def main() -> None:
            kafkalog.bind(app="shop")
            await asyncio.gather(*(request(n) for n in range(TASKS)))
            log.info("after", extra={"seq": TASKS * PER_TASK, "leak": kafkalog.get_context()})

        asyncio.run(main())
        assert handler.flush(30), handler.stats()
        handler.close()
        records = read_records(kafka_bootstrap, topic, TASKS * PER_TASK + 1)
        last = records.pop()
        assert last.json()["fields"]["leak"] == {"app": "shop"}  # nothing a task bound leaked back out
        _check_isolated(records, TASKS * PER_TASK)

    def test_threads_each_ship_their_own_values_through_loguru(self, kafka_bootstrap: str, topic: str) -> None:
        """Threads logging through KafkaSink at once: each record has its own thread's bound values."""
        sink = KafkaSink(kafka_bootstrap, topic)
        sink_id = logger.add(sink, format="{message}")
        barrier = threading.Barrier(TASKS)

        def worker(n: int) -> None:
            kafkalog.bind(app="shop", request_id=f"req-{n}")
            barrier.wait(10)
            for step in range(PER_TASK):
                kafkalog.bind(step=step)
                logger.info("step", seq=n * PER_TASK + step)

        try:
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(TASKS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert sink.drain(30), sink.stats()
        finally:
            logger.remove(sink_id)
        _check_isolated(read_records(kafka_bootstrap, topic, TASKS * PER_TASK), TASKS * PER_TASK)

    def test_call_site_values_win_over_bound_ones(self, kafka_bootstrap: str, topic: str) -> None:
        """extra= overrides a bound value of the same name; a bound action becomes the record's action."""
        handler = KafkaHandler(kafka_bootstrap, topic)
        log = isolated_logger("ctx.override", handler)
        with kafkalog.bound(user="bound", tenant="acme", action="checkout"):
            log.info("one", extra={"user": "call"})
        log.info("two")
        assert handler.flush(30), handler.stats()
        handler.close()
        one, two = (r.json() for r in read_records(kafka_bootstrap, topic, 2))
        assert one["fields"] == {"tenant": "acme", "user": "call"} and one["action"] == "checkout"
        assert two["fields"] == {} and two["action"] == "log"
