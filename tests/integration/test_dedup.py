"""Record ids end to end: what kafkalog delivers at least once, ``kafkalog consume --dedup`` writes exactly once.

Repeats are made the way users meet them (a broker killed under a spooling handler, ``kafkalog tail`` SIGKILLed
mid-file); whether a given run repeats anything depends on timing, so the tests assert the outcome with --dedup
(each record once, none lost) and only report how many repeats the topic held."""

from __future__ import annotations

import json
import re
import signal
from collections import Counter
from pathlib import Path

import pytest
from consume_util import consume, ndjson
from kafka_util import count_records
from support import isolated_logger, wait_until
from tail_util import start_tail, stderr_of, stop_tail

from kafkalog import KafkaHandler
from kafkalog.testing import LocalKafka

pytestmark = [pytest.mark.integration]

SEQ = re.compile(r"seq (\d+)")


def _once_each(bootstrap: str, topic: str, total: int, seq_of: str) -> tuple[int, int]:
    """``kafkalog consume --dedup -o ndjson`` writes each of ``total`` records exactly once. Returns the records
    without --dedup and the repeats --dedup left out (for the report; either may be 0)."""
    result = consume(bootstrap, topic, "-o", "ndjson", "--dedup", timeout=180)
    assert result.returncode == 0, result.stderr
    rows = ndjson(result.stdout)
    seqs = Counter(r["fields"]["seq"] if seq_of == "field" else int(SEQ.search(r["msg"]).group(1))  # type: ignore
                   for r in rows)
    assert set(seqs) == set(range(total)), f"missing: {sorted(set(range(total)) - set(seqs))[:10]}"
    repeated = {seq: n for seq, n in seqs.items() if n > 1}
    assert not repeated, f"written more than once with --dedup: {list(repeated.items())[:10]}"
    assert len({r["id"] for r in rows}) == total
    plain = consume(bootstrap, topic, "-o", "raw", timeout=180)
    assert plain.returncode == 0, plain.stderr
    left_out = int(m.group(1)) if (m := re.search(r"(\d+) repeated records left out", result.stderr)) else 0
    return len(plain.stdout.splitlines()), left_out


def test_spool_and_two_broker_kills_each_record_once_with_dedup(private_kafka: LocalKafka, tmp_path: Path) -> None:
    """20,000 records through the spool while the broker is SIGKILLed and restarted twice: every record is in
    the topic at least once, and consume --dedup writes each exactly once."""
    topic = "dedup-spool"
    private_kafka.create_topic(topic)
    handler = KafkaHandler(private_kafka.bootstrap, topic, spool_dir=str(tmp_path / "spool"),
                           queue_max_records=5_000, handle_sigterm=False)
    log = isolated_logger("dedup.spool", handler)
    try:
        for seq in range(20_000):
            if seq in (3_000, 11_000):
                private_kafka.kill()
            if seq in (7_000, 15_000):
                private_kafka.restart()
                # the broker is back for real (records delivered) before the next kill
                delivered = handler.stats().delivered
                wait_until(lambda: handler.stats().delivered > delivered, 120,  # noqa: B023
                           "nothing delivered after the restart")
            log.info("seq %d", seq, extra={"seq": seq})
        assert handler.flush(180), handler.stats()
        stats = handler.stats()
    finally:
        handler.close()
    assert stats.dropped == {}
    in_topic, left_out = _once_each(private_kafka.bootstrap, topic, 20_000, "field")
    print(f"spool, two broker kills: {in_topic} records in the topic, {left_out} repeats left out by --dedup")


def test_tail_sigkilled_mid_file_each_line_once_with_dedup(kafka_bootstrap: str, topic: str,
                                                           tmp_path: Path) -> None:
    """kafkalog tail SIGKILLed mid-file and restarted reads lines after its saved offset again: they keep their
    ids (file identity and byte offset), and consume --dedup writes each line exactly once."""
    total = 20_000
    path = tmp_path / "app.log"
    with open(path, "w") as f:
        f.writelines(f"2026-12-02 INFO seq {i} {'y' * 60}\n" for i in range(total))
    state = tmp_path / "state"
    small = tmp_path / "small-queue.toml"
    small.write_text("[kafkalog]\nbatch_max_records = 50\nqueue_max_records = 1000\n")
    proc = start_tail(kafka_bootstrap, topic, state, "--config", str(small), str(path))
    try:
        wait_until(lambda: count_records(kafka_bootstrap, topic) >= 2_000, 120, "nothing shipped")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    saved = json.loads((state / "offsets.json").read_text())["files"][0]
    assert saved["line"] - 1 < total, saved  # killed mid-file
    proc = start_tail(kafka_bootstrap, topic, state, "--config", str(small), str(path))
    try:
        wait_until(lambda: json.loads((state / "offsets.json").read_text())["files"][0]["line"] == total + 1, 180,
                   "the restarted agent never got to the end")
    finally:
        assert stop_tail(proc) == 0, stderr_of(state)
    in_topic, left_out = _once_each(kafka_bootstrap, topic, total, "msg")
    print(f"tail SIGKILL restart: saved at line {saved['line']}, {in_topic} records in the topic, "
          f"{left_out} repeats left out by --dedup")
