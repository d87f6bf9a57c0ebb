"""Bad input against the real broker: every record arrives as valid JSON or is counted, nothing raises."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka_util import read_records
from support import isolated_logger

from kafkalog import KafkaHandler
from kafkalog.testing import create_topic

pytestmark = pytest.mark.integration
CONTRACT_KEYS = {"type", "action", "time", "msg", "fields", "funcName", "logger", "host", "pid", "thread", "file",
                 "line", "id"}


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    __str__ = __repr__


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary(max_size=64),
    st.decimals(allow_nan=True), st.datetimes(), st.builds(Unprintable), st.sets(st.integers(), max_size=3))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4)),
    max_leaves=12)
extra_names = st.text(min_size=1, max_size=12).filter(
    lambda name: name not in logging.LogRecord("", 0, "", 0, "", (), None).__dict__ and name not in ("message",
                                                                                                       "asctime"))


@pytest.mark.filterwarnings("ignore:Do not use the `random` module:hypothesis.errors.HypothesisDeprecationWarning")
class TestHypothesisAgainstBroker:
    """kafka-python's network thread uses ``random`` for its backoff jitter, hence the filter."""

    def test_arbitrary_messages_args_and_extras(self, kafka_bootstrap: str, topic: str) -> None:
        """Arbitrary msg/args/extras: each call returns normally; each record arrives as JSON or is counted."""
        handler = KafkaHandler(kafka_bootstrap, topic, handle_sigterm=False)
        log = isolated_logger("fuzz", handler)
        sent: list[int] = []

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(msg=st.one_of(st.text(), st.sampled_from(["%s %d", "%(x)s", "100%", "%", "{}"]), values),
               args=st.lists(values, max_size=3), extra=st.dictionaries(extra_names, values, max_size=4),
               cyclic=st.booleans())
        def one(msg: Any, args: list[Any], extra: dict[str, Any], cyclic: bool) -> None:
            if cyclic:
                loop: list[Any] = [extra]
                extra["loop"] = loop
            seq = len(sent)
            log.info(msg, *args, extra={**extra, "fuzz_seq": seq})
            sent.append(seq)

        one()
        assert handler.flush(60)
        stats = handler.stats()
        handler.close()
        assert stats.seen == len(sent)
        assert stats.seen == stats.delivered + stats.dropped_total
        records = read_records(kafka_bootstrap, topic, stats.delivered, timeout=60)
        assert len(records) == stats.delivered
        for record in records:
            event = json.loads(record.value.decode("utf-8"))  # strict UTF-8 and JSON
            assert set(event) >= CONTRACT_KEYS
            assert isinstance(event["msg"], str)
        delivered_seqs = [json.loads(r.value)["fields"]["fuzz_seq"] for r in records]
        assert len(set(delivered_seqs)) == len(delivered_seqs) == stats.delivered
        assert set(delivered_seqs) <= set(sent)


class TestHugeRecords:
    def test_oversize_record_is_truncated_and_arrives(self, kafka_bootstrap: str, topic: str) -> None:
        """A 5 MB message with a 3 MB stack (broker limit ~1 MB) arrives cut, marked, under max_message_bytes."""
        handler = KafkaHandler(kafka_bootstrap, topic, handle_sigterm=False)
        log = isolated_logger("huge", handler)
        try:
            raise ValueError("x" * 3_000_000)
        except ValueError:
            log.exception("head-" + "y" * 5_000_000, extra={"order": 7})
        assert handler.flush(60)
        stats = handler.stats()
        handler.close()
        assert (stats.delivered, stats.truncated, stats.dropped) == (1, 1, {})
        [record] = read_records(kafka_bootstrap, topic, 1)
        event = record.json()
        assert len(record.value) <= 1_000_000
        assert event["truncated"] is True
        assert event["msg"].startswith("head-yyyy") and "[truncated" in event["msg"]
        assert event["fields"] == {"order": 7}
        assert event["exception"]["type"] == "ValueError"

    def test_record_the_client_refuses_is_counted_with_reason(self, kafka_bootstrap: str, topic: str) -> None:
        """max_message_bytes above the producer's max_request_size: kafka-python refuses the record before sending,
        and it is dropped as message_too_large."""
        errors: list[str] = []
        handler = KafkaHandler(kafka_bootstrap, topic, max_message_bytes=3_000_000, on_error=errors.append,
                               handle_sigterm=False)
        log = isolated_logger("rejected", handler)
        log.info("z" * 2_000_000)
        log.info("small one after")
        assert handler.flush(60)
        stats = handler.stats()
        handler.close()
        assert stats.dropped == {"message_too_large": 1}
        assert stats.delivered == 1
        assert any("message_too_large" in e for e in errors), errors
        [record] = read_records(kafka_bootstrap, topic, 1)
        assert record.json()["msg"] == "small one after"

    def test_record_the_broker_rejects_is_counted_with_reason(self, kafka_bootstrap: str) -> None:
        """A topic whose max.message.bytes (10,000) is below a 50 KB record the client accepts: the broker rejects
        it (kafka-python transport) and it is dropped as message_too_large, reported with that reason."""
        topic, handler, errors = _small_limit_topic_and_handler(kafka_bootstrap)
        log = isolated_logger("broker-rejected", handler)
        try:
            log.info("small before")
            assert handler.flush(60), handler.stats()
            log.info("z" * 50_000)  # a batch of its own: the broker refuses a whole batch
            assert handler.flush(60), handler.stats()
            stats = handler.stats()
        finally:
            handler.close()
        assert (stats.delivered, stats.dropped, stats.truncated) == (1, {"message_too_large": 1}, 0), stats
        assert any("message_too_large" in e and "MessageSizeTooLarge" in e for e in errors), errors
        assert [r.json()["msg"] for r in read_records(kafka_bootstrap, topic, 1)] == ["small before"]

    def test_records_after_a_broker_rejection_still_arrive(self, kafka_bootstrap: str) -> None:
        """After the broker rejected one oversized record, the next records are delivered (kafka-python)."""
        topic, handler, _ = _small_limit_topic_and_handler(kafka_bootstrap)
        log = isolated_logger("after-rejection", handler)
        try:
            log.info("z" * 50_000)
            assert handler.flush(60), handler.stats()
            for i in range(3):
                log.info("small after %d", i)
            assert handler.flush(60), handler.stats()
            stats = handler.stats()
        finally:
            handler.close()
        assert (stats.delivered, stats.dropped) == (3, {"message_too_large": 1}), stats
        assert [r.json()["msg"] for r in read_records(kafka_bootstrap, topic, 3)] == [
            f"small after {i}" for i in range(3)]


    def test_records_batched_with_a_rejected_one_still_arrive(self, kafka_bootstrap: str) -> None:
        """Records sent in the same batch as the one the broker refuses are not dropped with it (kafka-python fails
        them all with the same error; each is retried alone with a new producer, and only the cause fails)."""
        topic, handler, _ = _small_limit_topic_and_handler(kafka_bootstrap)
        log = isolated_logger("batched-with-rejection", handler)
        try:
            log.info("small 0")
            log.info("z" * 50_000)
            log.info("small 1")
            assert handler.flush(60), handler.stats()
            stats = handler.stats()
        finally:
            handler.close()
        assert (stats.delivered, stats.dropped) == (2, {"message_too_large": 1}), stats
        assert sorted(r.json()["msg"] for r in read_records(kafka_bootstrap, topic, 2)) == ["small 0", "small 1"]


def _small_limit_topic_and_handler(bootstrap: str) -> tuple[str, KafkaHandler, list[str]]:
    """A new topic with max.message.bytes=10000, and a kafka-python handler whose own limits are far above it."""
    topic = f"t-broker-rejects-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, config={"max.message.bytes": "10000"})
    errors: list[str] = []
    handler = KafkaHandler(bootstrap, topic, transport="kafka-python", on_error=errors.append, error_interval=0,
                           handle_sigterm=False)
    assert handler.config.max_message_bytes > 60_000  # the client-side limits let a 50 KB record through
    return topic, handler, errors
