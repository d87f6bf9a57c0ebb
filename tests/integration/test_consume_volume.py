"""``kafkalog consume`` over fetches of several megabytes: the frame-size limit of the oldest supported kafka-python.

Also run by ``make test-oldest`` (kafka-python 3.0.0), whose consumer refuses any response over 1 MB unless the
reader raises ``receive_message_max_bytes``: without that, this test reads nothing and times out.
"""

from __future__ import annotations

import pytest
from consume_util import consume, ndjson, seqs, ship
from kafka_util import check_sequence

pytestmark = pytest.mark.integration


def test_kafka_python_reads_megabytes_across_partitions(kafka_bootstrap: str, make_topic) -> None:
    """About 9 MB on 3 partitions (a fetch response well over 1 MB): every record once."""
    topic = make_topic(3)
    ship(kafka_bootstrap, topic, 20_000, message="record {seq} " + "x" * 300)
    result = consume(kafka_bootstrap, topic, "-o", "ndjson", "--client", "kafka-python", "--timeout", "20")
    assert result.returncode == 0, result.stderr[-2000:]
    check = check_sequence(seqs(ndjson(result.stdout)), 20_000)
    assert check.each_once, check.summary()
