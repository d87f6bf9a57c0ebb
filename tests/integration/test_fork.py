"""Fork safety against the real broker: pre-fork servers (gunicorn --preload, celery prefork, multiprocessing)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time

import pytest
from kafka_util import check_sequence, read_records

from kafkalog import KafkaHandler

pytestmark = pytest.mark.integration
CHILDREN = 20
PER_CHILD = 50


def _child_logs(name: str, count: int) -> None:
    log = logging.getLogger(name)
    for i in range(count):
        log.info("child record %d", i, extra={"child_pid": os.getpid(), "i": i})
    handler = log.handlers[0]
    assert isinstance(handler, KafkaHandler)
    # exit through atexit like a worker process would; os._exit skips it, so drain explicitly first
    handler.close()
    stats = handler.stats()
    os._exit(0 if stats.delivered == count and stats.pid == os.getpid() else 3)


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def _child_logs_and_returns(name: str, count: int) -> None:
    log = logging.getLogger(name)
    for i in range(count):
        log.info("child record %d", i, extra={"child_pid": os.getpid(), "i": i})
    # no close(): multiprocessing ends the child with os._exit after its exit finalizers


def _assert_each_child_once(events: list[dict], children: int, per_child: int) -> None:
    """Each child's records ("i" numbers) arrived exactly once each, and there are ``children`` children."""
    by_child: dict[int, list[int]] = {}
    for event in events:
        if "child_pid" in event["fields"]:
            by_child.setdefault(event["fields"]["child_pid"], []).append(event["fields"]["i"])
    assert len(by_child) == children, sorted(by_child)
    for pid, numbers in by_child.items():
        check = check_sequence(numbers, per_child)
        assert check.each_once, f"child {pid}: {check.summary()}"


class TestFork:
    def test_multiprocessing_child_drains_without_close(self, kafka_bootstrap: str, topic: str) -> None:
        """A multiprocessing child that just returns (os._exit, no atexit) still delivers what it logged."""
        handler = KafkaHandler(kafka_bootstrap, topic)
        _logger("forked.plain", handler)
        ctx = multiprocessing.get_context("fork")
        children = [ctx.Process(target=_child_logs_and_returns, args=("forked.plain", PER_CHILD)) for _ in range(3)]
        for child in children:
            child.start()
        for child in children:
            child.join(60)
        handler.close()
        assert [c.exitcode for c in children] == [0, 0, 0]
        records = read_records(kafka_bootstrap, topic, 3 * PER_CHILD, timeout=60)
        _assert_each_child_once([r.json() for r in records], 3, PER_CHILD)

    def test_twenty_forked_children_each_get_their_own_worker(self, kafka_bootstrap: str, topic: str) -> None:
        """Parent logs, forks 20 children that log; every record from parent and children arrives once."""
        handler = KafkaHandler(kafka_bootstrap, topic)
        log = _logger("forked", handler)
        log.info("parent before fork")
        assert handler.flush(30)  # the parent's worker thread and producer exist before the fork
        ctx = multiprocessing.get_context("fork")
        children = [ctx.Process(target=_child_logs, args=("forked", PER_CHILD)) for _ in range(CHILDREN)]
        for child in children:
            child.start()
        log.info("parent after fork")
        for child in children:
            child.join(60)
        assert [c.exitcode for c in children] == [0] * CHILDREN
        assert handler.flush(30)
        parent_stats = handler.stats()
        handler.close()
        assert (parent_stats.delivered, parent_stats.pid) == (2, os.getpid())
        records = read_records(kafka_bootstrap, topic, 2 + CHILDREN * PER_CHILD, timeout=60)
        events = [r.json() for r in records]
        assert len(events) == 2 + CHILDREN * PER_CHILD
        _assert_each_child_once(events, CHILDREN, PER_CHILD)
        assert all(e["fields"]["child_pid"] == e["pid"] for e in events if "child_pid" in e["fields"])
        assert [e["msg"] for e in events if e["pid"] == os.getpid()] == ["parent before fork", "parent after fork"]

    def test_fork_while_another_thread_is_logging_does_not_deadlock(self, kafka_bootstrap: str, topic: str) -> None:
        """Forking while a thread logs non-stop (locks held at random moments): every child finishes in time."""
        handler = KafkaHandler(kafka_bootstrap, topic)
        log = _logger("fork.busy", handler)
        stop = threading.Event()

        def spam() -> None:
            while not stop.is_set():
                log.info("busy parent")

        spammer = threading.Thread(target=spam)
        spammer.start()
        try:
            ctx = multiprocessing.get_context("fork")
            children = []
            for _ in range(10):
                child = ctx.Process(target=_child_logs, args=("fork.busy", 5))
                child.start()
                children.append(child)
                time.sleep(0.02)
            deadline = time.monotonic() + 60
            for child in children:
                child.join(max(0.1, deadline - time.monotonic()))
            hung = [c for c in children if c.is_alive()]
            for c in hung:
                c.kill()
        finally:
            stop.set()
            spammer.join()
        assert not hung, f"{len(hung)} children deadlocked after fork"
        assert [c.exitcode for c in children] == [0] * len(children)
        assert handler.flush(60)
        stats = handler.stats()
        handler.close()
        assert stats.seen == stats.delivered + stats.dropped_total
        records = read_records(kafka_bootstrap, topic, stats.delivered + 10 * 5, timeout=60)
        _assert_each_child_once([r.json() for r in records], 10, 5)
