"""Lifecycle and edge-of-the-app behaviour (issue 9), without a broker: SIGTERM while draining, chained SIGTERM
handlers, waits under logging's lock, option checks, client warnings, and record details."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from typing import Any

import pytest

from kafkalog import KafkaHandler
from kafkalog._client_noise import quiet_client_warnings
from kafkalog._records import RecordBuilder
from kafkalog.errors import ConfigError, ConfigTypeError
from kafkalog.transports import MemoryTransport
from kafkalog.transports import _kafka_python_config as kp

from .conftest import wait_until

PRELUDE = """
import atexit, logging, os, signal, sys, time
from kafkalog import KafkaHandler
from kafkalog.transports import MemoryTransport

class FileTransport(MemoryTransport):
    '''Writes each delivered record to stdout at once: visible even if the process then dies by a signal.'''
    def __init__(self, delay=0.0, on_send=None):
        super().__init__()
        self.delay, self.on_send = delay, on_send
    def send(self, messages, timeout):
        if self.on_send:
            self.on_send()
        time.sleep(self.delay)
        for m in messages:
            os.write(1, b"DELIVERED " + m.value[:0] + b"\\n")
        return super().send(messages, timeout)
"""


def run_script(body: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)], capture_output=True, text=True,
                          timeout=timeout, check=False)


class TestSigtermWhileDraining:
    def test_sigterm_during_exit_drain_is_remembered_not_raised(self) -> None:
        """A SIGTERM that arrives while the exit hook drains (Pool.terminate) neither aborts it nor prints a
        traceback: every record is delivered."""
        proc = run_script("""
            t = FileTransport(delay=0.05, on_send=lambda: os.kill(os.getpid(), signal.SIGTERM))
            h = KafkaHandler("127.0.0.1:9", "logs", transport=t, linger=5, batch_max_records=1,
                             on_error=lambda m: None)
            log = logging.Logger("app"); log.addHandler(h)
            for i in range(5):
                log.warning("x %d", i)
        """)
        assert proc.stdout.count("DELIVERED") == 5, proc.stderr
        assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr

    def test_sigterm_during_finalizer_drain_with_default_action(self) -> None:
        """With SIGTERM at its default action (handle_sigterm=False), a SIGTERM during the drain waits for it,
        then ends the process as the sender meant."""
        proc = run_script("""
            t = FileTransport(delay=0.05, on_send=lambda: os.kill(os.getpid(), signal.SIGTERM))
            h = KafkaHandler("127.0.0.1:9", "logs", transport=t, linger=5, batch_max_records=1,
                             handle_sigterm=False, on_error=lambda m: None)
            log = logging.Logger("app"); log.addHandler(h)
            for i in range(5):
                log.warning("x %d", i)
        """)
        assert proc.stdout.count("DELIVERED") == 5, proc.stderr
        assert proc.returncode == -15


class TestChainedSigterm:
    def test_server_reraise_waits_for_the_drain(self) -> None:
        """A server's handler (installed before ours) is chained; its later SIG_DFL + raise_signal (uvicorn) ends
        the process only after the exit drain delivered everything, with the status the server meant."""
        proc = run_script("""
            stop = []
            signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))  # the server's capture
            t = FileTransport(delay=0.01)
            h = KafkaHandler("127.0.0.1:9", "logs", transport=t, linger=5, on_error=lambda m: None)
            log = logging.Logger("app"); log.addHandler(h)
            os.kill(os.getpid(), signal.SIGTERM)
            deadline = time.monotonic() + 10
            while not stop and time.monotonic() < deadline:
                time.sleep(0.01)
            for i in range(20):
                log.warning("shutdown %d", i)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the server restores the original handler...
            signal.raise_signal(signal.SIGTERM)            # ...and re-raises
            print("LEFT THROUGH ATEXIT", flush=True)
        """)
        assert "LEFT THROUGH ATEXIT" in proc.stdout, proc.stderr
        assert proc.stdout.count("DELIVERED") == 20, proc.stderr
        assert proc.returncode == -15

    def test_threads_started_later_still_take_process_signals(self) -> None:
        """While SIGTERM is held in the main thread, a second process-directed SIGTERM still reaches the server's
        handler (our worker thread accepts it)."""
        proc = run_script("""
            got = []
            signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
            h = KafkaHandler("127.0.0.1:9", "logs", transport=FileTransport(), on_error=lambda m: None)
            log = logging.Logger("app"); log.addHandler(h)
            os.kill(os.getpid(), signal.SIGTERM)
            deadline = time.monotonic() + 10
            while len(got) < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            log.warning("starts the worker thread after the hold")
            h.flush(5)
            os.kill(os.getpid(), signal.SIGTERM)
            while len(got) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            print("GOT", len(got), flush=True)
        """)
        assert "GOT 2" in proc.stdout, proc.stderr


class _LockProbeTransport(MemoryTransport):
    """Opening needs logging's module lock, like importing kafka-python does (``logging.getLogger``)."""

    def __init__(self) -> None:
        super().__init__()
        self.opening = threading.Event()
        self.go = threading.Event()

    def open(self) -> None:
        self.opening.set()
        self.go.wait(10)
        logging.getLogger("kafkalog-test-probe")
        super().open()


class TestUnderLoggingLock:
    def test_flush_and_close_under_logging_lock_never_wait(self) -> None:
        """flush() and close() called with logging's lock held (dictConfig) return at once; the worker drains
        once the lock is released, and the close report says nothing was left."""
        transport = _LockProbeTransport()
        handler = KafkaHandler("127.0.0.1:9", "logs", transport=transport, on_error=lambda m: None)
        log = logging.Logger("app")
        log.addHandler(handler)
        log.warning("first")
        assert transport.opening.wait(5)
        lock: Any = logging._lock  # type: ignore[attr-defined]
        with lock:
            transport.go.set()
            started = time.monotonic()
            flushed = handler.flush()
            handler.close()
            elapsed = time.monotonic() - started
        assert (flushed, elapsed < 2.0) == (False, True), elapsed  # close_timeout and flush_timeout are 5 s
        assert wait_until(lambda: handler.close_report is not None, 10)
        report = handler.close_report
        assert report is not None and (report.delivered, report.left) == (1, 0)
        assert b"first" in transport.messages[0].value


class TestProducerConfigTypes:
    @pytest.mark.parametrize(("name", "value"), [
        ("linger_ms", None), ("request_timeout_ms", "100"), ("enable_idempotence", "yes"), ("client_id", 5),
        ("retries", None), ("api_version", 2.8), ("connections_max_idle_ms", None), ("ssl_check_hostname", 1),
    ])
    def test_wrong_type_refused_naming_the_option(self, name: str, value: object) -> None:
        """A producer_config value of the wrong type is refused at construction, with the option's name."""
        with pytest.raises(ConfigTypeError, match=name):
            KafkaHandler("127.0.0.1:9", "logs", producer_config={name: value})

    def test_right_types_accepted(self) -> None:
        """Values of kafka-python's own types pass."""
        config = {"linger_ms": 10, "client_id": "svc", "enable_idempotence": False, "api_version": (2, 8),
                  "retries": float("inf"), "send_buffer_bytes": None, "client_dns_lookup": "use_all_dns_ips"}
        assert kp.validate(config)["linger_ms"] == 10


class TestClientVersion:
    def test_kafka_python_2_refused_with_both_versions(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """kafka-python 2.0.2 is refused at construction, naming the installed and the needed versions."""
        monkeypatch.setattr(kp, "installed_client_version", lambda: "2.0.2")
        with pytest.raises(ConfigError, match=r"kafka-python 2\.0\.2 is installed; kafkalog needs kafka-python>=3\.0"):
            KafkaHandler("127.0.0.1:9", "logs")

    def test_installed_version_read_without_importing(self) -> None:
        """The version comes from the package metadata and matches the supported line."""
        version = kp.installed_client_version()
        assert version is not None and version.split(".")[0] == "3"
        kp.check_client_version(version)


class TestClientWarnings:
    def test_client_module_warnings_ignored_app_warnings_kept(self) -> None:
        """Under 'error' filters, a warning attributed to the client's modules is ignored; the app's still raises."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            quiet_client_warnings(("kafkalog_fake_client",))
            warnings.warn_explicit("client's", DeprecationWarning, "x.py", 1, module="kafkalog_fake_client.sub")
            with pytest.raises(DeprecationWarning):
                warnings.warn_explicit("app's", DeprecationWarning, "app.py", 1, module="myapp")
            with pytest.raises(DeprecationWarning):
                warnings.warn_explicit("near name", DeprecationWarning, "y.py", 1, module="kafkalog_fake_clientx")


class TestRecordDetails:
    builder = RecordBuilder(host="h", default_action="log", static_fields={})

    def test_uvicorn_color_message_not_in_fields(self) -> None:
        """uvicorn's ``color_message`` extra (ANSI escapes) is not shipped in fields; other extras are."""
        record = logging.LogRecord("uvicorn.error", logging.INFO, "x.py", 1, "Started", None, None)
        record.color_message = "\x1b[36mStarted\x1b[0m"
        record.worker = 3
        assert self.builder.from_logging(record)["fields"] == {"worker": 3}

    def test_captured_warning_carries_its_own_origin(self) -> None:
        """A ``logging.captureWarnings`` record has the warning's file, line and category, not warnings.py's."""
        events: list[dict[str, Any]] = []

        class Collect(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                events.append(TestRecordDetails.builder.from_logging(record))

        py_warnings = logging.getLogger("py.warnings")
        collect = Collect()
        py_warnings.addHandler(collect)
        logging.captureWarnings(True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always")
                warnings.warn("old api", FutureWarning, stacklevel=1); line = sys._getframe().f_lineno  # noqa: E702
        finally:
            logging.captureWarnings(False)
            py_warnings.removeHandler(collect)
        event = events[-1]
        assert (event["file"], event["line"], event["fields"]["category"], event["msg"]) == (
            __file__, line, "FutureWarning", "old api")


class TestForeignFormatter:
    def test_foreign_formatter_with_key_warned_once(self) -> None:
        """A text formatter on a handler with a key gets one report saying the key cannot read the record."""
        said: list[str] = []
        handler = KafkaHandler("127.0.0.1:9", "logs", key="fields.user", transport=MemoryTransport(),
                               on_error=said.append)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        handler.close(1)
        lines = [line for line in said if "formatter" in line]
        assert len(lines) == 1 and "key" in lines[0] and "KafkaJsonFormatter" in lines[0], said

    def test_no_warning_without_templates(self) -> None:
        """Without a key or topic template a foreign formatter loses nothing: no report."""
        said: list[str] = []
        handler = KafkaHandler("127.0.0.1:9", "logs", transport=MemoryTransport(), on_error=said.append)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.close(1)
        assert not [line for line in said if "formatter" in line]


class TestTaskWorkers:
    def test_celery_loaded_connects_the_drain(self) -> None:
        """With celery imported, a handler connects the drain to worker_process_shutdown by itself (once)."""
        pytest.importorskip("celery")
        proc = run_script("""
            import celery
            from celery import signals
            handlers = [KafkaHandler("127.0.0.1:9", "logs", transport=MemoryTransport()) for _ in range(2)]
            receivers = [r for r in signals.worker_process_shutdown.receivers if "kafkalog" in str(r[0])]
            print("RECEIVERS", len(receivers), flush=True)
        """)
        assert "RECEIVERS 1" in proc.stdout, proc.stderr

    def test_billiard_pool_without_celery_says_close_is_needed(self) -> None:
        """A billiard pool child (os._exit, no hook) inheriting a handler says close() is needed."""
        pytest.importorskip("billiard")
        proc = run_script("""
            import billiard
            h = KafkaHandler("127.0.0.1:9", "logs", transport=MemoryTransport(), on_error=lambda m: None)
            if __name__ == "__main__":
                with billiard.get_context("fork").Pool(1) as pool:
                    pool.map(abs, [1, 2])
        """)
        assert "ends with os._exit and runs no exit hook" in proc.stderr, proc.stderr


class TestPoolSigtermWatchdog:
    def test_sigterm_that_missed_a_blocked_main_thread_still_ends_the_pool_process(self) -> None:
        """A pool process whose main thread is blocked on a multiprocessing lock when its SIGTERM is taken by
        another thread (the handler would stay pending forever) still runs the handler and drains."""
        proc = run_script("""
            import multiprocessing, threading
            def child():
                h = KafkaHandler("127.0.0.1:9", "logs", transport=FileTransport(), linger=5,
                                 on_error=lambda m: None)
                log = logging.Logger("app"); log.addHandler(h)
                for i in range(3):
                    log.warning("x %d", i)
                lock = multiprocessing.Lock()
                lock.acquire()
                main = threading.get_ident()
                def blocked() -> bool:
                    frame = sys._current_frames()[main]
                    return frame.f_code.co_name == "child" and frame.f_lineno == blocking_line
                def take_sigterm_here():
                    while not blocked():  # wait until the main thread is blocked on the lock
                        time.sleep(0.01)
                    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
                blocking_line = sys._getframe().f_lineno + 2
                threading.Thread(target=take_sigterm_here).start()
                lock.acquire()  # blocks for good, as on the task queue lock Pool.terminate() holds
            if __name__ == "__main__":
                p = multiprocessing.get_context("fork").Process(target=child)
                p.start()
                p.join(20)
                print("EXITCODE", p.exitcode, flush=True)
                if p.exitcode is None:
                    p.kill()
        """)
        assert "EXITCODE 143" in proc.stdout, proc.stdout + proc.stderr
        assert proc.stdout.count("DELIVERED") == 3, proc.stdout
