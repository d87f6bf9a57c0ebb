"""Helpers for the ``kafkalog consume`` tests: ship records with the handler, run the command as a user would."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from kafka_util import count_records
from support import ROOT, isolated_logger, wait_until

from kafkalog import KafkaHandler

CONSUME = [sys.executable, "-m", "kafkalog", "consume"]


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "KAFKALOG_SASL_PASSWORD")}
    return {**base, "PYTHONPATH": str(ROOT), **extra}


def consume(bootstrap: str, topic: str, *args: str, timeout: float = 90.0,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``kafkalog consume`` to its end; the timeout is the deadline for it to end by itself."""
    return subprocess.run([*CONSUME, "-b", bootstrap, "-t", topic, *args], check=False, capture_output=True,
                          text=True,
                          timeout=timeout, cwd=ROOT, env=env(**(extra_env or {})))


def start_consume(bootstrap: str, topic: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CONSUME, "-b", bootstrap, "-t", topic, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env())


def finish(proc: subprocess.Popen[str], timeout: float = 60.0) -> tuple[str, str]:
    """The rest of a child's output once it ends (its text buffers included, which ``communicate`` would skip)."""
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()  # returns at EOF: the child ended (or closed stdout)
    proc.wait(timeout)
    return out, proc.stderr.read()


def ndjson(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def seqs(records: Sequence[dict[str, Any]]) -> list[int]:
    return [r["fields"]["seq"] for r in records]


def ship(bootstrap: str, topic: str, count: int, *, start: int = 0, logger: str = "app.main",
         level: int = logging.INFO, schema: str = "kafkalog", message: str = "record {seq}",
         extra: dict[str, Any] | None = None) -> None:
    """Log ``count`` records with ``fields.seq`` = start..start+count-1 and wait until the topic holds them."""
    before = count_records(bootstrap, topic)
    handler = KafkaHandler(bootstrap, topic, schema=schema, static_fields={"service": "shop"})
    log = isolated_logger(logger, handler)
    try:
        for seq in range(start, start + count):
            log.log(level, message.format(seq=seq), extra={"seq": seq, **(extra or {})})
        assert handler.flush(60), handler.stats()
    finally:
        handler.close()
    assert handler.stats().delivered == count, handler.stats()
    wait_until(lambda: count_records(bootstrap, topic) >= before + count, 30, "records not in the topic")


def produce_values(bootstrap: str, topic: str, values: Sequence[bytes | None]) -> None:
    """Write values as they are (not through kafkalog): what other producers may put on a topic."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id=f"consume-tests-{uuid.uuid4().hex[:6]}")
    try:
        for value in values:
            producer.send(topic, value=value, key=b"k" if value is None else None).get(timeout=30)
    finally:
        producer.close()
