"""Record ids end to end: what kafkalog delivers at least once, ``kafkalog consume --dedup`` writes exactly once.

Repeats are made the way users meet them: a spool replayed by a new process after the one delivering it was
SIGKILLed (what it had delivered but not yet marked as sent goes again), a broker killed under a spooling handler,
``kafkalog tail`` SIGKILLed mid-file. The spool test makes sure the topic does hold repeats (a precondition), the
tail test reports how many it held; both assert the outcome with --dedup (each record once, none lost)."""

from __future__ import annotations

import json
import re
import signal
from collections import Counter
from pathlib import Path

import pytest
from consume_util import consume, ndjson
from kafka_util import count_records
from support import isolated_logger, python_script, unused_port, wait_until
from tail_util import start_tail, stderr_of, stop_tail

from kafkalog import KafkaHandler
from kafkalog.testing import LocalKafka

pytestmark = [pytest.mark.integration]

SEQ = re.compile(r"seq (\d+)")


def _once_each(bootstrap: str, topic: str, total: int, seq_of: str) -> tuple[Counter[int], int]:
    """``kafkalog consume --dedup -o ndjson`` writes each of ``total`` records exactly once. Returns how many
    times each sequence number is in the topic (without --dedup) and the repeats --dedup reported left out."""
    result = consume(bootstrap, topic, "-o", "ndjson", "--dedup", timeout=180)
    assert result.returncode == 0, result.stderr
    rows = ndjson(result.stdout)
    seqs = Counter(_seq(r, seq_of) for r in rows)
    assert set(seqs) == set(range(total)), f"missing: {sorted(set(range(total)) - set(seqs))[:10]}"
    repeated = {seq: n for seq, n in seqs.items() if n > 1}
    assert not repeated, f"written more than once with --dedup: {list(repeated.items())[:10]}"
    assert len({r["id"] for r in rows}) == total
    plain = consume(bootstrap, topic, "-o", "ndjson", timeout=180)
    assert plain.returncode == 0, plain.stderr
    left_out = int(m.group(1)) if (m := re.search(r"(\d+) repeated records left out", result.stderr)) else 0
    return Counter(_seq(r, seq_of) for r in ndjson(plain.stdout)), left_out


def _seq(row: dict, seq_of: str) -> int:
    return row["fields"]["seq"] if seq_of == "field" else int(SEQ.search(row["msg"]).group(1))  # type: ignore


LOG_DOWN = """
    import logging
    from kafkalog import KafkaHandler
    handler = KafkaHandler("127.0.0.1:{port}", "{topic}", spool_dir="{spool}", close_timeout=0.5)
    log = logging.getLogger("writer")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    for seq in range({count}):
        log.info("seq %d", seq, extra={{"seq": seq}})
"""

REPLAY = """
    import time
    from kafkalog import KafkaHandler
    # one batch for all of the spool, sent in small requests one at a time: delivered part by part, and marked
    # as sent only once all of it is
    handler = KafkaHandler("{bootstrap}", "{topic}", spool_dir="{spool}", batch_max_records={count},
                           producer_config={{"batch_size": 4096, "max_in_flight_requests_per_connection": 1}})
    time.sleep(120)
"""


def test_spool_replay_and_two_broker_kills_each_record_once_with_dedup(private_kafka: LocalKafka,
                                                                     tmp_path: Path) -> None:
    """20,000 records: the first 5,000 left on disk by one process, replayed by a second one SIGKILLed half way
    (what it delivered is sent again: repeats for sure), then a handler on the same spool delivers the rest while
    the broker is SIGKILLed and restarted twice. The topic holds repeats; consume --dedup writes each record
    exactly once."""
    topic, first = "dedup-spool", 5_000
    private_kafka.create_topic(topic)
    spool = tmp_path / "spool"
    writer = python_script(LOG_DOWN.format(port=unused_port(), topic=topic, spool=spool, count=first))
    _, err = writer.communicate(timeout=120)
    assert writer.returncode == 0 and f"{first} kept in" in err, err
    replay = python_script(REPLAY.format(bootstrap=private_kafka.bootstrap, topic=topic, spool=spool, count=first))
    partition_log = private_kafka.workdir / "data" / f"{topic}-0" / "00000000000000000000.log"
    try:  # killed once the broker's log of the partition grows (read from disk): half way through the batch
        wait_until(lambda: partition_log.stat().st_size > 0, 60, "nothing replayed")
    finally:
        replay.send_signal(signal.SIGKILL)
        replay.wait(30)
    handler = KafkaHandler(private_kafka.bootstrap, topic, spool_dir=str(spool), queue_max_records=5_000,
                           handle_sigterm=False)
    log = isolated_logger("dedup.spool", handler)
    try:
        for seq in range(first, 20_000):
            if seq in (6_000, 12_000):
                private_kafka.kill()
            if seq in (9_000, 15_000):
                private_kafka.restart()
                # the broker is back for real (records delivered) before the next kill
                delivered = handler.stats().delivered
                wait_until(lambda: handler.stats().delivered > delivered, 120,  # noqa: B023
                           "nothing delivered after the restart")
            log.info("seq %d", seq, extra={"seq": seq})
        assert handler.flush(180), handler.stats()
        wait_until(lambda: handler.stats().replayed >= first, 120, "the spool's records were not replayed")
        stats = handler.stats()
    finally:
        handler.close()
    assert stats.dropped == {}, stats
    in_topic_by_seq, left_out = _once_each(private_kafka.bootstrap, topic, 20_000, "field")
    repeats = sum(in_topic_by_seq.values()) - len(in_topic_by_seq)
    assert repeats > 0, "no record is in the topic twice: --dedup had nothing to do"
    assert left_out == repeats, (left_out, repeats)
    print(f"spool replay, two broker kills: {sum(in_topic_by_seq.values())} records in the topic, {repeats} "
          f"repeats, all left out by --dedup")


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
    print(f"tail SIGKILL restart: saved at line {saved['line']}, {sum(in_topic.values())} records in the topic, "
          f"{left_out} repeats left out by --dedup")
