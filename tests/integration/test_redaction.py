"""Redaction against the real broker: secrets logged through every door never reach the topic, the spool files
or kafkalog's own reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kafka_util import read_records
from loguru import logger
from support import isolated_logger, unused_port, wait_until
from tail_util import started_tail, stderr_of, stop_tail

from kafkalog import KafkaHandler, KafkaProcessor, KafkaSink

pytestmark = pytest.mark.integration

PASSWORD = "hunter2-Pw-7781"
BASIC = "dXNlcjpzM2NyZXQtNzc4MQ"
TOKEN = "tok0123456789abcdefXYZ"
CARD = "4111 1111 1111 1111"
IN_EXCEPTION = "exc-S3cret-value-42"
SECRETS = (PASSWORD, BASIC, TOKEN, CARD, CARD.replace(" ", ""), IN_EXCEPTION)
MESSAGE = f"charging {CARD} for request with Bearer {TOKEN}"
HEADERS = {"request": {"headers": {"Authorization": f"Basic {BASIC}", "Accept": "json"}}}


def _assert_clean(where: str, blob: str | bytes) -> None:
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    found = [secret for secret in SECRETS if secret in text]
    assert not found, f"{found} in {where}"


def _assert_clean_dir(directory: Path) -> int:
    """Every file under ``directory`` free of the secrets; returns how many bytes were looked at."""
    seen = 0
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            seen += len(data)
            _assert_clean(str(path), data)
    return seen


def _fail() -> None:
    raise ValueError(f"login failed: password={IN_EXCEPTION}")


def _check_event(event: dict[str, Any]) -> None:
    """The record arrived, with what was removed named and what was not left alone."""
    _assert_clean("the record", repr(event))
    assert "[redacted:card]" in event["msg"] and "[redacted:bearer]" in event["msg"], event["msg"]
    assert event["msg"].startswith("charging "), event["msg"]
    assert event["fields"]["password"] == "[redacted:key]"
    assert event["fields"]["request"]["headers"] == {"Authorization": "[redacted:key]", "Accept": "json"}
    assert event["fields"]["order"] == "A-1"
    assert "[redacted:assignment]" in event["exception"]["message"]
    assert "[redacted:assignment]" in event["exception"]["stack"]


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")

    __repr__ = __str__


def test_handler_spool_and_topic_hold_no_secret(kafka_bootstrap: str, topic: str, tmp_path: Path) -> None:
    """Logged while the broker is down (into the spool), then shipped by a handler that can reach it: the spool
    files and the topic hold none of the secrets; a value redaction cannot read ships replaced, and is counted."""
    spool = tmp_path / "spool"
    reports: list[str] = []
    down = KafkaHandler(f"127.0.0.1:{unused_port()}", topic, spool_dir=str(spool), redact=["secrets", "pii"],
                        handle_sigterm=False, close_timeout=1, on_error=reports.append, error_interval=0)
    log = isolated_logger("redact.handler", down)
    try:
        _fail()
    except ValueError:
        log.exception(MESSAGE, extra={"password": PASSWORD, **HEADERS, "order": "A-1", "odd": Unprintable()})
    wait_until(lambda: down.stats().spooled == 1, 30, "the record was not spooled")
    stats = down.stats()
    assert (stats.redacted, stats.redact_errors) == (1, 1), stats
    down.close(1)
    assert _assert_clean_dir(spool) > 0
    up = KafkaHandler(kafka_bootstrap, topic, spool_dir=str(spool), redact="secrets", handle_sigterm=False,
                      on_error=reports.append)
    try:
        records = read_records(kafka_bootstrap, topic, 1, timeout=60)
    finally:
        up.close(10)
    event = records[0].json()
    _check_event(event)
    assert event["fields"]["odd"] == "[redacted:error]"
    for report in reports:
        _assert_clean("a report", report)


def test_loguru_sink(kafka_bootstrap: str, topic: str) -> None:
    reports: list[str] = []
    sink = KafkaSink(kafka_bootstrap, topic, redact=["secrets", "pii"], on_error=reports.append)
    sink_id = logger.add(sink, level="DEBUG")
    try:
        try:
            _fail()
        except ValueError:
            logger.opt(exception=True).bind(password=PASSWORD, order="A-1", **HEADERS).error(
                "charging {} for request with Bearer {}", CARD, TOKEN)
    finally:
        logger.remove(sink_id)
    _check_event(read_records(kafka_bootstrap, topic, 1)[0].json())
    assert sink.stats().redacted == 1
    for report in reports:
        _assert_clean("a report", report)


def test_structlog_processor(kafka_bootstrap: str, topic: str) -> None:
    structlog = pytest.importorskip("structlog")
    processor = KafkaProcessor(kafka_bootstrap, topic, redact={"presets": ["secrets", "pii"]}, passthrough=False)
    log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[processor])
    try:
        _fail()
    except ValueError as exc:
        log.error(MESSAGE, password=PASSWORD, order="A-1", exc_info=exc, **HEADERS)
    assert processor.flush(30)
    processor.close()
    _check_event(read_records(kafka_bootstrap, topic, 1)[0].json())


def test_tail(kafka_bootstrap: str, topic: str, tmp_path: Path) -> None:
    """JSON lines with the secrets, shipped by ``kafkalog tail --redact secrets --redact pii --spool``: the topic,
    the agent's state directory (its spool) and its stderr hold none of them."""
    state = tmp_path / "state"
    log_file = tmp_path / "app.log"
    line = {"msg": MESSAGE, "level": "error", "password": PASSWORD, **HEADERS, "order": "A-1",
            "exception": f"Traceback (most recent call last):\nValueError: login failed: password={IN_EXCEPTION}"}
    log_file.write_text(json.dumps(line) + "\n" + f"text line {MESSAGE} password={PASSWORD}\n")
    proc = started_tail(kafka_bootstrap, topic, state, str(log_file), "--format", "json", "--spool",
                        "--redact", "secrets", "--redact", "pii")
    try:
        records = read_records(kafka_bootstrap, topic, 2, timeout=60)
    finally:
        assert stop_tail(proc) == 0
    for record in records:
        _assert_clean("the topic", record.value)
    assert any("[redacted:card]" in r.json()["msg"] for r in records), [r.json() for r in records]
    assert _assert_clean_dir(state) > 0
    _assert_clean("the agent's stderr", stderr_of(state))


def test_bad_pattern_refused_naming_it() -> None:
    from kafkalog import ConfigError

    with pytest.raises(ConfigError, match=r"redact: pattern 'order_id' is not a valid regular expression"):
        KafkaHandler("127.0.0.1:9", "t", redact={"patterns": {"order_id": "ord_[0-9"}})
    with pytest.raises(ConfigError, match=r"redact: unknown preset 'secret'.*\['secrets', 'pii'\]"):
        KafkaHandler("127.0.0.1:9", "t", redact="secret")
