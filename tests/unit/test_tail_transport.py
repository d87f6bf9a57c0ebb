"""`kafkalog tail --transport`: which Kafka client ships, with ``auto`` resolved the way the docs say."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from kafkalog.tail import choose_transport as _transport

HAS_CONFLUENT = importlib.util.find_spec("confluent_kafka") is not None


@pytest.mark.parametrize(("choice", "shipper", "expected"), [
    ("kafka-python", {}, "kafka-python"),
    ("confluent", {"transport": "kafka-python"}, "confluent"),  # the command line wins over the config
    ("auto", {"transport": "kafka-python"}, "kafka-python"),  # the config's choice
    ("auto", {"producer_config": {"linger_ms": 5}}, "kafka-python"),  # options in kafka-python's names
    ("auto", {}, "confluent" if HAS_CONFLUENT else "kafka-python"),
])
def test_transport_choice(choice: str, shipper: dict[str, Any], expected: str) -> None:
    assert _transport(choice, shipper) == expected


def test_auto_without_confluent_is_kafka_python(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "confluent_kafka"
                        else real(name, *a))
    assert _transport("auto", {}) == "kafka-python"
