"""gunicorn -w 16, uvicorn --workers 8 and Celery with recycled children, all handing over to one collector: every
record arrives once, and no worker process imports a Kafka client (the collector's producer is the host's only).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from collector_util import BROKER_CONNECTIONS, start_collector, stop_collector
from kafka_util import check_sequence, count_records, read_records, read_sequence
from support import ROOT, unused_port, wait_until

from kafkalog.transports.collector import query_stats

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KAFKA_MODULES = 'sorted(m for m in list(sys.modules) if m.split(".")[0] in ("kafka", "confluent_kafka"))'


@pytest.fixture
def collector_at(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Path]:
    sock = tmp_path / "collector.sock"
    proc = start_collector(kafka_bootstrap, sock)
    yield sock
    stop_collector(proc)


def _server(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{cwd}{os.pathsep}{ROOT}", "PYTHONFAULTHANDLER": "1"}
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(cwd / "server.err", "w"),
                            text=True, start_new_session=True)


def _stop(proc: subprocess.Popen[str], cwd: Path, signum: int = signal.SIGTERM) -> str:
    if proc.poll() is None:
        proc.send_signal(signum)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return (cwd / "server.err").read_text(errors="replace")


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=20) as response:
        return json.load(response)


def _requests(port: int, count: int) -> list[dict]:
    def answering() -> bool:
        try:
            _get(f"http://127.0.0.1:{port}/0?warmup=1")
        except OSError:
            return False
        return True

    wait_until(answering, timeout=60, message="the server did not answer")
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda seq: _get(f"http://127.0.0.1:{port}/{seq}"), range(count)))


class TestGunicorn:
    def test_sixteen_workers_hand_over_to_one_collector(self, kafka_bootstrap: str, topic: str, tmp_path: Path,
                                                        collector_at: Path) -> None:
        """gunicorn --preload -w 16: 320 requests, each record once; no worker imports a Kafka client."""
        (tmp_path / "web_app.py").write_text(textwrap.dedent(f"""
            import json, logging, os, sys
            from kafkalog import KafkaHandler
            log = logging.getLogger("web")
            log.addHandler(KafkaHandler(collector={str(collector_at)!r}, topic={topic!r}))
            log.setLevel(logging.INFO)

            def app(environ, start_response):
                if "warmup" not in environ.get("QUERY_STRING", ""):
                    seq = int(environ["PATH_INFO"].strip("/"))
                    log.info("request %d", seq, extra={{"seq": seq}})
                start_response("200 OK", [("Content-Type", "application/json")])
                return [json.dumps({{"pid": os.getpid(), "kafka": {KAFKA_MODULES}}}).encode()]
        """))
        port = unused_port()
        proc = _server([sys.executable, "-m", "gunicorn", "--preload", "-w", "16", "-b", f"127.0.0.1:{port}",
                        "--graceful-timeout", "20", "web_app:app"], tmp_path)
        try:
            answers = _requests(port, 320)
        finally:
            stderr = _stop(proc, tmp_path)
        assert proc.returncode == 0, stderr[-6000:]
        assert all(a["kafka"] == [] for a in answers), "a worker imported a Kafka client"
        check = read_sequence(kafka_bootstrap, topic, 320)
        assert check.each_once, check.summary() + stderr[-3000:]


class TestUvicorn:
    def test_eight_workers_hand_over_to_one_collector(self, kafka_bootstrap: str, topic: str, tmp_path: Path,
                                                      collector_at: Path) -> None:
        """uvicorn --workers 8 (spawned workers, each makes its own handler): 200 requests, each record once."""
        pytest.importorskip("uvicorn")
        (tmp_path / "asgi_app.py").write_text(textwrap.dedent(f"""
            import json, logging, os, sys
            from kafkalog import KafkaHandler
            log = logging.getLogger("asgi")
            log.addHandler(KafkaHandler(collector={str(collector_at)!r}, topic={topic!r}))
            log.setLevel(logging.INFO)

            async def app(scope, receive, send):
                if scope["type"] != "http":
                    return
                if b"warmup" not in scope.get("query_string", b""):
                    seq = int(scope["path"].strip("/"))
                    log.info("request %d", seq, extra={{"seq": seq}})
                body = json.dumps({{"pid": os.getpid(), "kafka": {KAFKA_MODULES}}}).encode()
                await send({{"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json")]}})
                await send({{"type": "http.response.body", "body": body}})
        """))
        port = unused_port()
        proc = _server([sys.executable, "-m", "uvicorn", "asgi_app:app", "--workers", "8", "--host", "127.0.0.1",
                        "--port", str(port), "--log-level", "warning"], tmp_path)
        try:
            answers = _requests(port, 200)
        finally:
            stderr = _stop(proc, tmp_path)
        assert proc.returncode == 0, stderr[-6000:]
        assert all(a["kafka"] == [] for a in answers), "a worker imported a Kafka client"
        check = read_sequence(kafka_bootstrap, topic, 200)
        assert check.each_once, check.summary() + stderr[-3000:]


class TestCelery:
    TASKS = 150
    PER_CHILD = 3

    def test_fifty_recycled_children_hand_over_to_one_collector(self, kafka_bootstrap: str, topic: str,
                                                               tmp_path: Path, collector_at: Path) -> None:
        """Celery prefork -c 4 --max-tasks-per-child 3, 150 tasks (50 children, each ended with os._exit):
        every task's record once; no pool process imports a Kafka client."""
        pytest.importorskip("celery")
        data = tmp_path / "celery-data"
        (tmp_path / "task_app.py").write_text(textwrap.dedent(f"""
            import logging, os, sys
            from pathlib import Path
            from celery import Celery
            from celery.signals import setup_logging
            from kafkalog import KafkaHandler

            DATA = Path({str(data)!r})
            for folder in ("queue", "control", "results"):
                (DATA / folder).mkdir(parents=True, exist_ok=True)
            app = Celery("task_app")
            app.conf.update(
                broker_url="filesystem://",
                broker_transport_options={{"data_folder_in": str(DATA / "queue"),
                                          "data_folder_out": str(DATA / "queue"),
                                          "control_folder": str(DATA / "control"), "polling_interval": 0.05}},
                result_backend=f"file://{{DATA / 'results'}}", broker_connection_retry_on_startup=True)

            # Celery's own lines in a file too (shown on a failure: the worker logs only to its handlers).
            # Not a FileHandler: billiard forks children from a thread, and a child forked while another thread
            # was writing would inherit the buffered file's lock held, and hang on its first line.
            class Lines(logging.Handler):

                def __init__(self, path):
                    super().__init__()
                    self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

                def emit(self, record):
                    try:
                        os.write(self.fd, (self.format(record) + "\\n").encode())
                    except Exception:
                        self.handleError(record)

            @setup_logging.connect
            def configure(loglevel=None, **kwargs):
                handler = KafkaHandler(collector={str(collector_at)!r}, topic={topic!r})
                own = Lines({str(tmp_path / "celery.log")!r})
                own.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
                logging.basicConfig(level=logging.INFO, handlers=[handler, own], force=True)

            log = logging.getLogger("tasks")

            @app.task
            def work(seq):
                log.info("task %d", seq, extra={{"seq": seq}})
                return [os.getpid(), {KAFKA_MODULES}]

            if __name__ == "__main__":
                import json, time
                results = [work.delay(seq) for seq in range({self.TASKS})]
                (DATA / "queued").touch()
                deadline = time.monotonic() + 240
                while not all(r.ready() for r in results) and time.monotonic() < deadline:
                    time.sleep(0.1)
                late = [seq for seq, r in enumerate(results) if not r.ready()]
                if late:
                    sys.exit(f"tasks without a result after 240 s: {{late}}")
                print(json.dumps([r.get(timeout=10) for r in results]))
        """))
        celery_log = tmp_path / "celery.log"

        def worker_log() -> str:
            return celery_log.read_text(errors="replace") if celery_log.exists() else ""

        # Every task queued before the worker starts. kombu's filesystem transport (5.7), the message broker here,
        # creates a message file under its final name and writes it after: a worker reading the queue meanwhile
        # reads it empty, and exits (JSONDecodeError, "Unrecoverable error", said only in its log). Two processes
        # creating its binding file at once race the same way.
        sender = subprocess.Popen([sys.executable, "task_app.py"], cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"})
        try:
            wait_until(lambda: (data / "queued").exists() or sender.poll() is not None, timeout=120,
                       message="the tasks were not queued")
            worker = _server([sys.executable, "-m", "celery", "-A", "task_app", "worker", "--pool", "prefork",
                              "--concurrency", "4", "--max-tasks-per-child", str(self.PER_CHILD), "--loglevel",
                              "INFO", "--without-mingle", "--without-gossip", "--without-heartbeat"], tmp_path)
            try:
                out, err = sender.communicate(timeout=300)
                worker_state = f"worker exit status {worker.poll()}"
                if sender.returncode != 0 and worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGABRT)  # every pool process shows its stacks (faulthandler)
            finally:
                stderr = _stop(worker, tmp_path)
        finally:
            if sender.poll() is None:
                sender.kill()
                sender.communicate()
        assert sender.returncode == 0, "\n".join((err[-3000:], worker_state, "celery.log:", worker_log()[-6000:],
                                                  "worker stderr:", stderr[-20000:]))
        results = json.loads(out.strip().splitlines()[-1])
        assert all(kafka == [] for _, kafka in results), "a pool process imported a Kafka client"
        children = Counter(pid for pid, _ in results)
        assert len(children) >= self.TASKS // self.PER_CHILD, children
        wait_until(lambda: count_records(kafka_bootstrap, topic, timeout=10) >= self.TASKS, timeout=60)
        events = [r.json() for r in read_records(kafka_bootstrap, topic, count_records(kafka_bootstrap, topic))]
        check = check_sequence((e["fields"]["seq"] for e in events if "seq" in e.get("fields", {})), self.TASKS)
        assert check.each_once, check.summary() + stderr[-3000:]
        assert query_stats(str(collector_at))["cut_off"] == {}


class TestGunicornPreforkParent:
    def test_workers_hand_over_to_the_master(self, kafka_bootstrap: str, topic: str, tmp_path: Path) -> None:
        """gunicorn --preload -w 8 with prefork_collector=True and no collector running: the workers hand their
        records to the master, which ships them; no worker has a broker connection; each record once."""
        port = int(kafka_bootstrap.rsplit(":", 1)[1])
        (tmp_path / "web_app.py").write_text(textwrap.dedent(f"""
            import json, logging, os, sys
            from kafkalog import KafkaHandler
            {textwrap.indent(BROKER_CONNECTIONS, " " * 12).strip()}
            log = logging.getLogger("web")
            log.addHandler(KafkaHandler({kafka_bootstrap!r}, {topic!r}, prefork_collector=True))
            log.setLevel(logging.INFO)

            def app(environ, start_response):
                if "warmup" not in environ.get("QUERY_STRING", ""):
                    seq = int(environ["PATH_INFO"].strip("/"))
                    log.info("request %d", seq, extra={{"seq": seq}})
                start_response("200 OK", [("Content-Type", "application/json")])
                return [json.dumps({{"pid": os.getpid(), "broker": broker_connections({port})}}).encode()]
        """))
        web_port = unused_port()
        proc = _server([sys.executable, "-m", "gunicorn", "--preload", "-w", "8", "-b", f"127.0.0.1:{web_port}",
                        "--graceful-timeout", "20", "web_app:app"], tmp_path)
        try:
            answers = _requests(web_port, 160)
        finally:
            stderr = _stop(proc, tmp_path)
        assert proc.returncode == 0, stderr[-6000:]
        assert all(a["broker"] == 0 for a in answers), "a worker connected to the broker"
        check = read_sequence(kafka_bootstrap, topic, 160)
        assert check.each_once, check.summary() + stderr[-3000:]
