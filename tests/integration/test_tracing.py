"""OpenTelemetry trace ids against the real broker: records logged inside SDK spans carry them, and key="trace_id"
keeps each trace on one partition."""

from __future__ import annotations

from collections import defaultdict

import pytest
from kafka_util import read_records
from support import isolated_logger

from kafkalog import KafkaHandler

pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace import TracerProvider

pytestmark = pytest.mark.integration


def _ids(span: object) -> tuple[str, str]:
    context = span.get_span_context()  # type: ignore[attr-defined]
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class TestTraceIds:
    def test_records_in_a_span_carry_its_ids(self, kafka_bootstrap: str, topic: str) -> None:
        """Inside a span (and a child span) the record has that span's trace_id and span_id; outside, neither."""
        tracer = TracerProvider().get_tracer("tests")
        handler = KafkaHandler(kafka_bootstrap, topic)
        log = isolated_logger("trace.ids", handler)
        with tracer.start_as_current_span("request") as parent:
            log.info("in parent")
            with tracer.start_as_current_span("db") as child:
                log.info("in child")
        log.info("outside")
        assert handler.flush(30), handler.stats()
        handler.close()
        in_parent, in_child, outside = (r.json() for r in read_records(kafka_bootstrap, topic, 3))
        assert (in_parent["trace_id"], in_parent["span_id"]) == _ids(parent)
        assert (in_child["trace_id"], in_child["span_id"]) == _ids(child)
        assert in_child["trace_id"] == in_parent["trace_id"] and in_child["span_id"] != in_parent["span_id"]
        assert len(in_parent["trace_id"]) == 32 and len(in_parent["span_id"]) == 16
        assert "trace_id" not in outside and "span_id" not in outside

    @pytest.mark.parametrize("key", ["trace_id", "{trace_id}"])
    def test_key_trace_id_keeps_each_trace_on_one_partition(self, kafka_bootstrap: str, make_topic,
                                                            key: str) -> None:
        """Twelve traces logged interleaved into six partitions: each trace's records share one partition."""
        topic = make_topic(6)
        tracer = TracerProvider().get_tracer("tests")
        handler = KafkaHandler(kafka_bootstrap, topic, key=key, batch_max_records=7)
        log = isolated_logger("trace.key", handler)
        spans = [tracer.start_span(f"request-{n}") for n in range(12)]
        from opentelemetry import trace

        for step in range(10):
            for n, span in enumerate(spans):
                with trace.use_span(span, end_on_exit=False):
                    log.info("step", extra={"trace": n, "step": step})
            handler.flush(30)
        for span in spans:
            span.end()
        assert handler.flush(30), handler.stats()
        handler.close()
        records = read_records(kafka_bootstrap, topic, 120)
        assert len(records) == 120
        partitions: dict[str, set[int]] = defaultdict(set)
        for record in records:
            event = record.json()
            assert record.key == event["trace_id"].encode()
            assert event["trace_id"] == _ids(spans[event["fields"]["trace"]])[0]
            partitions[event["trace_id"]].add(record.partition)
        assert len(partitions) == 12
        assert all(len(used) == 1 for used in partitions.values()), partitions
        assert len(set().union(*partitions.values())) > 1  # the traces did spread over the partitions
