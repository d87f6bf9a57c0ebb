"""Exit paths in a real subprocess: SIGTERM, sys.exit from a thread, an unhandled exception."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from kafka_util import read_sequence
from support import python_script, unused_port, wait_or_show_stacks

pytestmark = pytest.mark.integration


def _wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "READY", (line, proc.stderr.read() if proc.stderr else "")


LOG_THEN_WAIT = """
    import logging, time
    from kafkalog import KafkaHandler
    handler = KafkaHandler("{bootstrap}", "{topic}", close_timeout={close_timeout})
    log = logging.getLogger("svc")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    for i in range({count}):
        log.info("n=%d", i, extra={{"seq": i}})
    print("READY", flush=True)
    time.sleep(60)
"""


class TestSigterm:
    def test_sigterm_drains_the_queue(self, kafka_bootstrap: str, topic: str) -> None:
        """SIGTERM to a process that does not handle it: every queued record is delivered once, exit status 143."""
        proc = python_script(LOG_THEN_WAIT.format(bootstrap=kafka_bootstrap, topic=topic, close_timeout=10,
                                                  count=5_000))
        _wait_ready(proc)
        proc.send_signal(signal.SIGTERM)
        assert wait_or_show_stacks(proc, 30) == 128 + signal.SIGTERM
        check = read_sequence(kafka_bootstrap, topic, 5_000)
        assert check.each_once, check.summary()

    def test_sigterm_with_broker_down_is_bounded_and_reported(self) -> None:
        """SIGTERM with no broker: stderr says how many records were left; exit within close_timeout.

        Promise checked: exit within close_timeout (2 s) plus seconds, though the broker never answers.
        """
        proc = python_script(LOG_THEN_WAIT.format(bootstrap=f"127.0.0.1:{unused_port()}", topic="t", close_timeout=2,
                                           count=300))
        _wait_ready(proc)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = wait_or_show_stacks(proc, 30)
        elapsed = time.monotonic() - started
        stderr = proc.stderr.read() if proc.stderr else ""
        assert code == 128 + signal.SIGTERM
        assert elapsed < 2 + 5, elapsed
        assert "closed with 300 record(s) undelivered" in stderr, stderr

    def test_application_sigterm_handler_is_left_alone(self, kafka_bootstrap: str, topic: str) -> None:
        """An application's own SIGTERM handler keeps working; records still drain at its exit."""
        proc = python_script(f"""
            import logging, signal, sys, time
            signal.signal(signal.SIGTERM, lambda *a: (print("APP HANDLER", flush=True), sys.exit(7)))
            from kafkalog import KafkaHandler
            log = logging.getLogger("svc")
            log.addHandler(KafkaHandler("{kafka_bootstrap}", "{topic}"))
            log.setLevel(logging.INFO)
            for i in range(100):
                log.info("n=%d", i, extra={{"seq": i}})
            print("READY", flush=True)
            time.sleep(60)
        """)
        _wait_ready(proc)
        proc.send_signal(signal.SIGTERM)
        assert wait_or_show_stacks(proc, 30) == 7
        assert proc.stdout is not None and "APP HANDLER" in proc.stdout.read()
        check = read_sequence(kafka_bootstrap, topic, 100)
        assert check.each_once, check.summary()


class TestExitPaths:
    def test_sys_exit_in_a_thread_and_unhandled_exception(self, kafka_bootstrap: str, topic: str) -> None:
        """Records from a thread that calls sys.exit, then a crash of the main thread: each delivered once."""
        proc = python_script(f"""
            import logging, sys, threading
            from kafkalog import KafkaHandler
            log = logging.getLogger("svc")
            log.addHandler(KafkaHandler("{kafka_bootstrap}", "{topic}"))
            log.setLevel(logging.INFO)
            def work():
                for i in range(1_000):
                    log.info("thread n=%d", i, extra={{"seq": i}})
                sys.exit(1)
            t = threading.Thread(target=work)
            t.start()
            t.join()
            for i in range(1_000):
                log.info("main n=%d", i, extra={{"seq": 1_000 + i}})
            print("READY", flush=True)
            raise RuntimeError("crash")
        """)
        _wait_ready(proc)
        assert wait_or_show_stacks(proc, 30) == 1
        assert "RuntimeError: crash" in (proc.stderr.read() if proc.stderr else "")
        check = read_sequence(kafka_bootstrap, topic, 2_000)
        assert check.each_once, check.summary()
