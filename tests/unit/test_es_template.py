"""examples/elasticsearch-template.json and examples/logstash.conf fit the default record schema.

No Elasticsearch or Logstash runs here: these tests check the files against the record contract as the code and
the docs define it (the reserved keys in ``kafkalog._records``, the Keys table in docs/record-format.md) and
against real records shipped by a handler.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafkalog import KafkaHandler
from kafkalog._records import RESERVED_KEYS, exception_info
from kafkalog.transports import MemoryTransport

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "examples" / "elasticsearch-template.json"
PIPELINE = ROOT / "examples" / "logstash.conf"
RECORD_FORMAT = ROOT / "docs" / "record-format.md"

# the Elasticsearch types a JSON value of each kind may be indexed as
COMPATIBLE = {
    str: {"keyword", "text", "date", "date_nanos", "wildcard", "match_only_text"},
    bool: {"boolean"},
    int: {"long", "integer"},
    float: {"double", "float", "scaled_float"},
    dict: {"object", "flattened", "nested"},
}


def _properties() -> dict[str, Any]:
    template = json.loads(TEMPLATE.read_text())
    props: dict[str, Any] = template["template"]["mappings"]["properties"]
    return props


def _documented_keys() -> set[str]:
    """The keys listed in the Keys table of docs/record-format.md (``| `key` |`` rows, not the static row)."""
    section = RECORD_FORMAT.read_text().split("\n## Keys\n", 1)[1].split("\n### ", 1)[0]
    return set(re.findall(r"^\| `([A-Za-z_]+)`\s*\|", section, flags=re.MULTILINE))


def _mapped_type(mapping: dict[str, Any]) -> str:
    return str(mapping.get("type", "object"))


class TestTemplateCoversTheContract:
    def test_every_reserved_key_is_mapped(self) -> None:
        """Each top-level key of the contract (``RESERVED_KEYS`` in the code) has a mapping."""
        assert RESERVED_KEYS - set(_properties()) == set()

    def test_every_documented_key_is_mapped(self) -> None:
        """Each key in docs/record-format.md's Keys table has a mapping."""
        documented = _documented_keys()
        assert documented >= {"type", "msg", "exception", "truncated"}  # the table was found and read
        assert documented - set(_properties()) == set()

    def test_exception_keys_are_mapped(self) -> None:
        """``exception`` maps each key the code puts in it."""
        try:
            raise KeyError("card")
        except KeyError as exc:
            info = exception_info(type(exc), exc, exc.__traceback__)
        assert info is not None
        assert set(_properties()["exception"]["properties"]) == set(info)

    def test_shipped_records_fit_the_mapping(self, make_handler: Callable[..., KafkaHandler],
                                             make_logger: Callable[..., logging.Logger]) -> None:
        """Every key of real records (with fields, an exception, a cut) is mapped with a type its value fits."""
        handler = make_handler(max_message_bytes=2048)
        log = make_logger(handler)
        log.info("paid", extra={"action": "pay", "amount": 12.5, "user": {"id": 7}})
        try:
            {}["card"]
        except KeyError:
            log.exception("x" * 5000)
        assert handler.flush(5)
        transport = handler.config.transport
        assert isinstance(transport, MemoryTransport)
        records = [json.loads(value) for value in transport.values()]
        assert records[1]["truncated"] is True
        props = _properties()
        for record in records:
            for key, value in record.items():
                assert key in props, f"{key} is not mapped"
                assert _mapped_type(props[key]) in COMPATIBLE[type(value)], (key, value, props[key])
            for key, value in record.get("exception", {}).items():
                assert _mapped_type(props["exception"]["properties"][key]) in COMPATIBLE[type(value)]

    def test_time_keeps_microseconds_and_fields_cannot_conflict(self) -> None:
        """``time`` is ``date_nanos`` (microseconds kept); ``fields`` is ``flattened`` (no mapping conflicts)."""
        props = _properties()
        assert props["time"]["type"] == "date_nanos"
        assert props["fields"]["type"] == "flattened"


class TestLogstashPipeline:
    def test_daily_index_matches_the_template(self) -> None:
        """The pipeline writes daily indices that the template's index pattern covers."""
        pipeline = PIPELINE.read_text()
        [index] = re.findall(r'^\s*index => "([^"]+)"', pipeline, flags=re.MULTILINE)
        assert index.endswith("-%{+YYYY.MM.dd}")
        prefix = index.split("%{")[0]
        patterns = json.loads(TEMPLATE.read_text())["index_patterns"]
        assert any(re.fullmatch(pattern.replace("*", ".*"), prefix + "2026.11.22") for pattern in patterns)

    def test_reads_kafka_as_json_and_dates_by_record_time(self) -> None:
        """Kafka input with the json codec; ``time`` becomes ``@timestamp``; braces balance."""
        pipeline = PIPELINE.read_text()
        code = "\n".join(line.split("#", 1)[0] for line in pipeline.splitlines())
        assert code.count("{") == code.count("}")
        assert re.search(r"input \{\s*kafka \{", code)
        assert re.search(r"codec => json", code)
        assert re.search(r'match => \["time", "ISO8601"\]', code)
        assert re.search(r"elasticsearch \{", code)
