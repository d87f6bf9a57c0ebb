"""Celery with kafkalog on the root logger: the worker's own lines and every task's records go to Kafka.

    cd examples
    KAFKA_BOOTSTRAP=127.0.0.1:9092 KAFKA_TOPIC=task-logs \
        celery -A celery_app worker --concurrency 2 --max-tasks-per-child 10 --loglevel INFO
    KAFKA_BOOTSTRAP=127.0.0.1:9092 python celery_app.py 50    # queue 50 tasks, wait for them

The message broker is kombu's ``filesystem://`` transport in ``$CELERY_DATA_DIR`` (default ``./celery-data``), so
the example runs without Redis or RabbitMQ. With a real broker, set ``broker_url`` as usual: nothing in the
logging part changes.

Celery configures logging itself when the worker starts and, by default, removes every handler from the root
logger (``worker_hijack_root_logger``): a handler put there at import is gone before the first task runs.
Configuring logging from the ``setup_logging`` signal, as below, makes Celery leave logging alone.

The prefork pool processes inherit the handler and send their own records. They end with ``os._exit()`` (when
recycled by ``--max-tasks-per-child``, and at shutdown); kafkalog sends what they queued from Celery's
``worker_process_shutdown`` signal, which it connects by itself.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import setup_logging

from kafkalog import KafkaHandler

DATA_DIR = Path(os.environ.get("CELERY_DATA_DIR", "celery-data")).resolve()
for folder in ("queue", "control", "results"):
    (DATA_DIR / folder).mkdir(parents=True, exist_ok=True)

app = Celery("celery_app")
app.conf.update(
    broker_url="filesystem://",
    broker_transport_options={"data_folder_in": str(DATA_DIR / "queue"), "data_folder_out": str(DATA_DIR / "queue"),
                              "control_folder": str(DATA_DIR / "control"), "polling_interval": 0.1},
    result_backend=f"file://{DATA_DIR / 'results'}",
    broker_connection_retry_on_startup=True,
)


@setup_logging.connect
def configure_logging(loglevel: int | str | None = None, **kwargs: Any) -> None:
    """Runs once, in the worker's main process; the pool processes it forks inherit the handlers."""
    kafka = KafkaHandler(os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
                         os.environ.get("KAFKA_TOPIC", "task-logs"),
                         static_fields={"service": "celery-example"})
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter("[%(asctime)s: %(levelname)s/%(processName)s] %(name)s: %(message)s"))
    logging.basicConfig(level=loglevel or logging.INFO, handlers=[console, kafka], force=True)


log = logging.getLogger("tasks")


@app.task
def work(seq: int) -> int:
    """One task: log one record with its number in ``fields.seq``."""
    log.info("task %d done", seq, extra={"seq": seq})
    return os.getpid()


if __name__ == "__main__":  # queue tasks 0 .. N-1 and wait for them (a worker must be running)
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    results = [work.delay(seq) for seq in range(count)]
    pids = {result.get(timeout=60) for result in results}
    print(f"{count} tasks done by {len(pids)} pool processes")
