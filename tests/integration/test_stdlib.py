"""The stdlib handler against the real broker: every field of the record contract, read back from Kafka."""

from __future__ import annotations

import datetime as dt
import logging
import logging.config
import os
import socket
import textwrap
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kafka_util import read_records

from kafkalog import KafkaHandler

pytestmark = pytest.mark.integration

CONTRACT_KEYS = {"type", "action", "time", "msg", "fields", "funcName", "logger", "host", "pid", "thread", "file",
                 "line", "id"}


def _logger(name: str, handler: logging.Handler, level: int = logging.DEBUG) -> logging.Logger:
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    return log


def _parse_time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.utcoffset() == dt.timedelta(0)
    return parsed


class Cyclic:
    def __repr__(self) -> str:
        return "Cyclic()"


class TestHandlerInCode:
    @pytest.mark.parametrize("transport", ["kafka-python", "confluent"])
    def test_every_contract_field_arrives(self, kafka_bootstrap: str, topic: str, transport: str) -> None:
        """A record with extras, static fields and its call site arrives with each contract field exact."""
        errors: list[str] = []
        handler = KafkaHandler(kafka_bootstrap, topic, static_fields={"service": "billing", "env": "test"},
                               transport=transport, on_error=errors.append)
        log = _logger("billing.api", handler)

        def pay_endpoint() -> int:
            log.info("user %s paid %.2f", "alice", 12.5, extra={"action": "pay", "amount": 12.5, "tags": ["a", "b"]})
            return pay_endpoint.__code__.co_firstlineno + 1

        before = time.time()
        line = pay_endpoint()
        after = time.time()
        assert handler.flush(30)
        stats = handler.stats()
        handler.close()
        assert (stats.delivered, stats.dropped, errors) == (1, {}, [])
        [record] = read_records(kafka_bootstrap, topic, 1)
        event = record.json()
        assert set(event) == CONTRACT_KEYS | {"service", "env"}
        assert event["type"] == "info"
        assert event["action"] == "pay"
        assert event["msg"] == "user alice paid 12.50"
        assert event["fields"] == {"amount": 12.5, "tags": ["a", "b"]}
        assert event["funcName"] == "pay_endpoint"
        assert event["logger"] == "billing.api"
        assert event["host"] == socket.gethostname()
        assert event["pid"] == os.getpid()
        assert event["thread"] == threading.current_thread().name
        assert event["file"] == __file__
        assert event["line"] == line
        assert event["service"] == "billing" and event["env"] == "test"
        assert before - 1e-3 <= _parse_time(event["time"]).timestamp() <= after + 1e-3  # the call's time
        assert len(event["time"].split(".")[1]) >= len("123+00:00")
        # the record's own time (to the ms; a client or broker time would be later by the time it took to send)
        assert abs(record.timestamp_ms - _parse_time(event["time"]).timestamp() * 1000) <= 1, record.timestamp_ms
        assert record.key is None

    def test_exception_with_cause_arrives(self, kafka_bootstrap: str, topic: str) -> None:
        """``log.exception`` ships type, message and the full chained stack."""
        handler = KafkaHandler(kafka_bootstrap, topic, default_action="request")
        log = _logger("billing.worker", handler)
        try:
            try:
                {}["missing"]
            except KeyError as exc:
                raise RuntimeError("payment failed for order 7") from exc
        except RuntimeError:
            log.exception("charge failed")
        assert handler.flush(30)
        handler.close()
        event = read_records(kafka_bootstrap, topic, 1)[0].json()
        assert event["type"] == "error"
        assert event["action"] == "request"
        assert event["msg"] == "charge failed"
        exc = event["exception"]
        assert exc["type"] == "RuntimeError"
        assert exc["message"] == "payment failed for order 7"
        assert "KeyError: 'missing'" in exc["stack"]
        assert "direct cause of the following exception" in exc["stack"]
        assert exc["stack"].rstrip().endswith("RuntimeError: payment failed for order 7")

    def test_unicode_and_odd_extras_arrive_as_stable_strings(self, kafka_bootstrap: str, topic: str) -> None:
        """Unicode survives; sets, bytes, Decimal, datetime, objects and cycles become strings, nothing raises."""
        handler = KafkaHandler(kafka_bootstrap, topic)
        log = _logger("odd", handler)
        cycle: list[Any] = [1]
        cycle.append(cycle)
        when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
        log.warning("naïve café ☕ %s 🚀 日本語", "ünïcødé", extra={
            "price": Decimal("12.30"), "raw": b"\xffok", "when": when, "obj": Cyclic(), "ids": {3},
            "cycle": cycle, "path": Path("/tmp/x"), "nested": {"deep": [1, {"x": None}]}, "surrogate": "a\udcffb",
            "big": 2**80, "nan": float("nan")})
        assert handler.flush(30)
        handler.close()
        event = read_records(kafka_bootstrap, topic, 1)[0].json()
        assert event["type"] == "warning"
        assert event["msg"] == "naïve café ☕ ünïcødé 🚀 日本語"
        fields = event["fields"]
        assert fields["price"] == "12.30"
        assert fields["raw"] == "\\xffok"
        assert fields["when"] == "2026-01-02T03:04:05+00:00"
        assert fields["obj"] == "Cyclic()"
        assert fields["ids"] == "{3}"
        assert fields["cycle"] == [1, "<cycle>"]
        assert fields["path"] == "/tmp/x"
        assert fields["nested"] == {"deep": [1, {"x": None}]}
        assert fields["surrogate"] == "a\\udcffb"
        assert fields["big"] == str(2**80)
        assert fields["nan"] is None
        assert handler.stats().dropped == {}

    def test_key_and_topic_template_route_records(self, kafka_bootstrap: str, make_topic: Any) -> None:
        """A ``{type}`` topic template and a key taken from a field decide where each record goes."""
        base = make_topic()
        info_topic, error_topic = make_topic(name=f"{base}-info"), make_topic(name=f"{base}-error")
        handler = KafkaHandler(kafka_bootstrap, base + "-{type}", key="fields.user")
        log = _logger("routed", handler)
        log.info("fine", extra={"user": "alice"})
        log.error("bad", extra={"user": "bob"})
        assert handler.flush(30)
        handler.close()
        [info] = read_records(kafka_bootstrap, info_topic, 1)
        [error] = read_records(kafka_bootstrap, error_topic, 1)
        assert (info.key, info.json()["msg"]) == (b"alice", "fine")
        assert (error.key, error.json()["msg"]) == (b"bob", "bad")

    def test_producer_config_is_applied(self, kafka_bootstrap: str, topic: str) -> None:
        """gzip compression and acks=1 pass through to the producer and records still arrive intact."""
        handler = KafkaHandler(kafka_bootstrap, topic,
                               producer_config={"compression_type": "gzip", "acks": 1, "client_id": "kl-test"})
        log = _logger("compressed", handler)
        for i in range(50):
            log.info("row %d", i)
        assert handler.flush(30)
        handler.close()
        records = read_records(kafka_bootstrap, topic, 50)
        assert [r.json()["msg"] for r in records] == [f"row {i}" for i in range(50)]
        assert handler.stats().delivered == 50

    @pytest.mark.parametrize("transport", ["kafka-python", "confluent"])
    def test_ten_thousand_records_in_order_per_partition(self, kafka_bootstrap: str, make_topic: Any,
                                                         transport: str) -> None:
        """10,000 keyed records over 3 partitions: all arrive, none twice, in logging order within a partition,
        each key always on one partition."""
        topic = make_topic(partitions=3)
        handler = KafkaHandler(kafka_bootstrap, topic, key="fields.user", transport=transport)
        log = _logger("ordered", handler, logging.INFO)
        users = ["alice", "bob", "carol", "dave", "erin"]
        for seq in range(10_000):
            log.info("event", extra={"seq": seq, "user": users[seq % len(users)]})
        assert handler.flush(60)
        stats = handler.stats()
        handler.close()
        assert (stats.delivered, stats.dropped) == (10_000, {})
        records = read_records(kafka_bootstrap, topic, 10_000, timeout=60)
        assert len(records) == 10_000
        assert sorted(r.json()["fields"]["seq"] for r in records) == list(range(10_000))
        by_partition: dict[int, list[int]] = {}
        partitions_of_key: dict[bytes | None, set[int]] = {}
        for r in sorted(records, key=lambda r: (r.partition, r.offset)):
            by_partition.setdefault(r.partition, []).append(r.json()["fields"]["seq"])
            partitions_of_key.setdefault(r.key, set()).add(r.partition)
        # which partition a key lands on is the client's partitioner's choice (murmur2 or CRC32): not asserted
        for seqs in by_partition.values():
            assert seqs == sorted(seqs)
        assert set(partitions_of_key) == {user.encode() for user in users}
        assert all(len(partitions) == 1 for partitions in partitions_of_key.values()), partitions_of_key


class TestDictConfig:
    def test_readme_dictconfig_example(self, kafka_bootstrap: str, topic: str) -> None:
        """The dictConfig from the README builds a working handler: extras, action and static fields arrive."""
        logging.config.dictConfig({
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"kafka": {"class": "kafkalog.KafkaHandler", "bootstrap_servers": kafka_bootstrap,
                                   "topic": topic, "static_fields": {"service": "billing"},
                                   "producer_config": {"acks": "all"}}},
            "loggers": {"billing": {"level": "INFO", "handlers": ["kafka"], "propagate": False}},
        })
        handler = logging.getLogger("billing").handlers[0]
        assert isinstance(handler, KafkaHandler)
        try:
            log = logging.getLogger("billing.api")
            log.debug("not shipped: below INFO")
            log.info("user %s paid", "alice", extra={"action": "pay", "amount": 12.5})
            assert handler.flush(30)
        finally:
            handler.close()
            logging.getLogger("billing").handlers.clear()
        event = read_records(kafka_bootstrap, topic, 1)[0].json()
        assert (event["msg"], event["action"], event["fields"], event["service"], event["logger"]) == (
            "user alice paid", "pay", {"amount": 12.5}, "billing", "billing.api")


class TestFileConfig:
    def test_fileconfig_with_args_and_kwargs(self, kafka_bootstrap: str, topic: str, tmp_path: Path) -> None:
        """An ini file with ``args=`` and ``kwargs=`` builds the handler."""
        ini = tmp_path / "logging.ini"
        ini.write_text(textwrap.dedent(f"""
            [loggers]
            keys=root,shop
            [handlers]
            keys=kafka
            [formatters]
            keys=
            [logger_root]
            level=WARNING
            handlers=
            [logger_shop]
            level=INFO
            handlers=kafka
            qualname=shop
            propagate=0
            [handler_kafka]
            class=kafkalog.KafkaHandler
            level=INFO
            args=('{kafka_bootstrap}', '{topic}')
            kwargs={{'static_fields': {{'service': 'shop'}}, 'close_timeout': 3.0}}
        """))
        logging.config.fileConfig(ini, disable_existing_loggers=False)
        handler = logging.getLogger("shop").handlers[0]
        try:
            assert isinstance(handler, KafkaHandler)
            assert handler.config.close_timeout == 3.0
            logging.getLogger("shop").info("from %s", "ini", extra={"cart": 3})
            assert handler.flush(30)
        finally:
            handler.close()
            logging.getLogger("shop").handlers.clear()
        event = read_records(kafka_bootstrap, topic, 1)[0].json()
        assert (event["msg"], event["fields"], event["service"]) == ("from ini", {"cart": 3}, "shop")
