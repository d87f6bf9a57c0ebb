"""The shipper's promises against the real broker: never block the app, lose nothing at exit, no client recursion."""

from __future__ import annotations

import logging
import subprocess
import time

import pytest
from kafka_util import read_records, read_sequence
from support import python_script, unused_port

from kafkalog import KafkaHandler

pytestmark = pytest.mark.integration


def _run(script: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``script`` in a fresh interpreter; returns the result and the seconds from its 'MARK' line to exit."""
    proc = python_script(script)
    assert proc.stdout is not None
    marked = None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("MARK"):
            marked = time.monotonic()
    stderr = proc.stderr.read() if proc.stderr else ""
    proc.wait(timeout)
    ended = time.monotonic()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, "".join(lines), stderr)
    assert marked is not None, f"script never printed MARK:\n{result.stdout}\n{result.stderr}"
    return result, ended - marked


class TestBrokerUnreachable:
    def test_app_never_waits_and_exit_is_bounded(self) -> None:
        """No broker: construction and 1,000 calls do not wait for it; exit within close_timeout; the loss reported.

        Promises checked: construction and logging never wait for the broker (a client that bootstrapped on the
        app's thread would retry for 30 s, a blocking send for 60 s: the bounds here are seconds, not fractions),
        and the exit is bounded by close_timeout (2 s) plus seconds.
        """
        port = unused_port()
        result, exit_seconds = _run(f"""
            import logging, time
            from kafkalog import KafkaHandler
            t0 = time.perf_counter()
            handler = KafkaHandler("127.0.0.1:{port}", "nowhere", close_timeout=2.0)
            built = time.perf_counter() - t0
            log = logging.getLogger("app")
            log.addHandler(handler)
            log.setLevel(logging.INFO)
            t1 = time.perf_counter()
            for i in range(1000):
                log.info("order %d", i, extra={{"action": "pay"}})
            spent = time.perf_counter() - t1
            print(f"built={{built:.4f}} spent={{spent:.4f}}", flush=True)
            print("MARK", flush=True)
        """)
        assert result.returncode == 0, result.stderr
        built, spent = (float(part.split("=")[1]) for part in result.stdout.split()[:2])
        assert built < 10, result.stdout
        assert spent < 10, result.stdout
        assert exit_seconds < 2.0 + 5.0, (exit_seconds, result.stderr)
        assert "closed with 1000 record(s) undelivered" in result.stderr, result.stderr


class TestExit:
    def test_records_logged_right_before_exit_all_arrive(self, kafka_bootstrap: str, topic: str) -> None:
        """20,000 records logged just before a normal interpreter exit are all delivered, none twice."""
        result, exit_seconds = _run(f"""
            import logging
            from kafkalog import KafkaHandler
            logging.basicConfig(level=logging.INFO, handlers=[KafkaHandler("{kafka_bootstrap}", "{topic}",
                                                                         close_timeout=30)])
            log = logging.getLogger("burst")
            for i in range(20_000):
                log.info("n=%d", i, extra={{"seq": i}})
            print("MARK", flush=True)
        """)
        assert result.returncode == 0, result.stderr
        assert "undelivered" not in result.stderr
        check = read_sequence(kafka_bootstrap, topic, 20_000)
        assert check.each_once, check.summary()
        assert exit_seconds < 30 + 5  # promise: exit within close_timeout (30 s), even with 20,000 to deliver

    def test_loguru_records_before_exit_all_arrive(self, kafka_bootstrap: str, topic: str) -> None:
        """With loguru, records logged just before exit are each delivered once (our hook runs before loguru's)."""
        result, _ = _run(f"""
            from loguru import logger
            from kafkalog import KafkaSink
            logger.remove()
            logger.add(KafkaSink("{kafka_bootstrap}", "{topic}", close_timeout=30))
            for i in range(5_000):
                logger.info("n={{}}", i, seq=i)
            print("MARK", flush=True)
        """)
        assert result.returncode == 0, result.stderr
        check = read_sequence(kafka_bootstrap, topic, 5_000)
        assert check.each_once, check.summary()

    def test_logging_shutdown_then_exit(self, kafka_bootstrap: str, topic: str) -> None:
        """An explicit ``logging.shutdown()`` drains and the later exit hook is a no-op."""
        result, _ = _run(f"""
            import logging
            from kafkalog import KafkaHandler
            handler = KafkaHandler("{kafka_bootstrap}", "{topic}")
            logging.getLogger().addHandler(handler)
            logging.getLogger().setLevel(logging.INFO)
            for i in range(1_000):
                logging.info("n=%d", i, extra={{"seq": i}})
            logging.shutdown()
            print("MARK", handler.close_report.left, handler.stats().delivered, flush=True)
        """)
        assert result.returncode == 0, result.stderr
        assert "MARK 0 1000" in result.stdout
        check = read_sequence(kafka_bootstrap, topic, 1_000)
        assert check.each_once, check.summary()


class TestClientLogs:
    def test_kafka_client_records_never_arrive(self, kafka_bootstrap: str, topic: str) -> None:
        """With the root logger at DEBUG, kafka-python's own records are never shipped, the app's are."""
        root = logging.getLogger()
        old_level, old_handlers = root.level, root.handlers[:]
        handler = KafkaHandler(kafka_bootstrap, topic)
        root.handlers[:] = [handler]
        root.setLevel(logging.DEBUG)
        try:
            for i in range(200):
                logging.getLogger("app.debugging").debug("step %d", i)
            assert handler.flush(30)
            stats = handler.stats()
        finally:
            root.handlers[:] = old_handlers
            root.setLevel(old_level)
            handler.close()
        records = read_records(kafka_bootstrap, topic, 200)
        loggers = {r.json()["logger"] for r in records}
        assert loggers == {"app.debugging"}
        assert len(records) == 200
        assert stats.seen == 200
