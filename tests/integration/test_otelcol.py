"""The real OpenTelemetry Collector reads kafkalog's OTLP records: ``schema="otlp"`` with ``encoding: otlp_json``
and ``schema="otlp_proto"`` with the receiver's default encoding, every field compared with what was sent; and
the configuration docs/schemas.md shows passes ``otelcol validate``."""

from __future__ import annotations

import json
import logging
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kafka_util import read_records
from otelcol_util import collector
from schema_checks import parse_otlp
from support import ROOT, isolated_logger, wait_until

from kafkalog import KafkaHandler

pytestmark = [pytest.mark.integration, pytest.mark.otelcol]

CONFIG = """
receivers:
  kafka/json:
    brokers: ["{bootstrap}"]
    initial_offset: earliest
    group_id: kafkalog-json-{topic}
    logs:
      topics: ["{topic}-json"]
      encoding: otlp_json
  kafka/proto:
    brokers: ["{bootstrap}"]
    initial_offset: earliest
    group_id: kafkalog-proto-{topic}
    logs:
      topics: ["{topic}-proto"]
exporters:
  file:
    path: {out}
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [kafka/json, kafka/proto]
      exporters: [file]
"""


def _docs_config() -> str:
    text = (ROOT / "docs" / "schemas.md").read_text()
    section = text[text.index("### The Collector side"):]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_docs_configuration_validates(tmp_path: Path) -> None:
    binary = collector()
    config = tmp_path / "docs.yaml"
    config.write_text(_docs_config())
    done = subprocess.run([str(binary), "validate", f"--config={config}"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    config.write_text(_docs_config().replace("topics: [otel-logs]", "topic: otel-logs"))  # the old form: refused
    refused = subprocess.run([str(binary), "validate", f"--config={config}"], capture_output=True, text=True,
                             timeout=60, check=False)
    assert refused.returncode != 0 and "topic" in refused.stderr


def _log_records(bootstrap: str, topic: str, schema: str) -> dict[str, tuple[int, int, int]]:
    """Six records; returns the (trace id, span id, trace flags) of the spans two of them were logged in."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    handler = KafkaHandler(bootstrap, topic, schema=schema, static_fields={"service": "billing", "env": "test"},
                           handle_sigterm=False)
    log = isolated_logger(f"otelcol.{schema}", handler)
    spans = {}
    try:
        for name, provider in (("sampled", TracerProvider()), ("unsampled", TracerProvider(sampler=ALWAYS_OFF))):
            with provider.get_tracer("otelcol").start_as_current_span(name) as span:
                log.info(f"in a {name} span")
            context = span.get_span_context()
            spans[f"in a {name} span"] = (context.trace_id, context.span_id, int(context.trace_flags))
        log.info("plain ü 支付 ✓")
        log.warning("typed", extra={"s": "ß", "i": 7, "neg": -3, "f": 1.5, "t": True, "no": False, "none": None,
                                    "l": [1, "a", [2.5]], "d": {"k": {"n": -1}}, "seq": 1})
        try:
            raise ValueError("bad ü")
        except ValueError:
            log.exception("failed")
        log.log(logging.CRITICAL, "critical")
        assert handler.flush(30)
    finally:
        handler.close()
    return spans


def _log_records_of(request: Any) -> list[tuple[Any, Any, Any]]:
    return [(rl.resource, sl.scope, r) for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]


def _uid(record: Any) -> str:
    return next(kv.value.string_value for kv in record.attributes if kv.key == "log.record.uid")


def test_collector_reads_both_encodings_field_by_field(kafka_bootstrap: str, make_topic: Any,
                                                      tmp_path: Path) -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    binary = collector()
    base = make_topic()
    make_topic(name=f"{base}-json")
    make_topic(name=f"{base}-proto")
    spans = {"json": _log_records(kafka_bootstrap, f"{base}-json", "otlp"),
             "proto": _log_records(kafka_bootstrap, f"{base}-proto", "otlp_proto")}
    sent = {}
    for record in read_records(kafka_bootstrap, f"{base}-json", 6):
        for item in _log_records_of(parse_otlp(record.value)):
            sent[_uid(item[2])] = ("json", item)
    for record in read_records(kafka_bootstrap, f"{base}-proto", 6):
        for item in _log_records_of(ExportLogsServiceRequest.FromString(record.value)):
            sent[_uid(item[2])] = ("proto", item)
    assert len(sent) == 12
    out = tmp_path / "out.json"
    config = tmp_path / "collector.yaml"
    config.write_text(CONFIG.format(bootstrap=kafka_bootstrap, topic=base, out=out))
    err = open(tmp_path / "collector.err", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(binary), f"--config={config}"], stdout=subprocess.DEVNULL, stderr=err)
    received: dict[str, tuple[Any, Any, Any]] = {}

    def read_out() -> bool:
        if out.exists():
            for line in out.read_text().splitlines():
                try:
                    request = parse_otlp(line.encode())
                except ValueError:  # the last line, being written
                    continue
                for item in _log_records_of(request):
                    received[_uid(item[2])] = item
        return len(received) >= 12 or proc.poll() is not None

    try:
        wait_until(read_out, 120, "the Collector wrote fewer than 12 records")
    finally:
        proc.terminate()
        proc.wait(30)
        err.close()
    assert proc.returncode in (0, -15), (tmp_path / "collector.err").read_text()[-3000:]
    assert set(received) == set(sent), (tmp_path / "collector.err").read_text()[-3000:]
    for uid, (encoding, (resource, scope, record)) in sent.items():
        got_resource, got_scope, got = received[uid]
        assert got == record, (encoding, got, record)  # every field: body, attributes, times, severity, ids
        assert got_resource == resource and got_scope == scope, encoding
    # the protobuf the Collector read says what the JSON it read says, but for ids, times and line numbers
    by_encoding: dict[str, dict[str, Any]] = {"json": {}, "proto": {}}
    for uid, (encoding, _) in sent.items():
        resource, scope, record = received[uid]
        attributes = {kv.key: kv.value for kv in record.attributes
                      if kv.key not in ("log.record.uid", "code.lineno", "code.function")}
        by_encoding[encoding][record.body.string_value] = (
            resource, scope.name.rsplit(".", 1)[0], record.severity_number, record.severity_text, attributes)
    assert by_encoding["json"] == by_encoding["proto"]
    by_msg = {r.body.string_value: r for _, (_, r) in ((u, (e, i[2])) for u, (e, i) in sent.items())}
    assert "plain ü 支付 ✓" in by_msg
    exc = {kv.key: kv.value.string_value for kv in by_msg["failed"].attributes}
    assert exc["exception.type"] == "ValueError" and exc["exception.message"] == "bad ü"
    typed = {kv.key: kv.value for kv in by_msg["typed"].attributes}
    assert typed["i"].int_value == 7 and typed["f"].double_value == 1.5 and typed["t"].bool_value is True
    assert typed["l"].array_value.values[2].array_value.values[0].double_value == 2.5
    assert typed["d"].kvlist_value.values[0].value.kvlist_value.values[0].value.int_value == -1
    assert typed["none"].WhichOneof("value") is None
    assert all(r.observed_time_unix_nano > 0 for _, (_, _, r) in received.items())
    # the span's ids and W3C trace flags, as the Collector read them: sampled (bit 0) set inside a sampled span
    in_spans = {(encoding, r.body.string_value): r for uid, (encoding, _) in sent.items()
                for r in [received[uid][2]] if r.body.string_value in spans[encoding]}
    assert len(in_spans) == 4
    for (encoding, body), record in in_spans.items():
        trace_id, span_id, flags = spans[encoding][body]
        assert (int(record.trace_id.hex(), 16), int(record.span_id.hex(), 16)) == (trace_id, span_id), body
        assert record.flags == flags, (encoding, body)
        assert record.flags & 1 == (1 if body == "in a sampled span" else 0), (encoding, body, record.flags)
    json.dumps(list(received))  # ids are plain strings
