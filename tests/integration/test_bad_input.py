"""Bad input against the real broker: every record arrives as valid JSON or is counted, nothing raises."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka_util import read_records
from support import isolated_logger

from kafkalog import KafkaHandler

pytestmark = pytest.mark.integration
CONTRACT_KEYS = {"type", "action", "time", "msg", "fields", "funcName", "logger", "host", "pid", "thread", "file",
                 "line"}


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

    def test_record_the_broker_rejects_is_counted_with_reason(self, kafka_bootstrap: str, topic: str) -> None:
        """max_message_bytes above what the producer allows: the record is dropped as message_too_large."""
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
