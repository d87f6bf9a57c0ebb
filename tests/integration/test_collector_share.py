"""The collector's fair share: one process flooding a small-buffer collector while the broker is stopped does not
starve the others. Real ``kafkalog collect``, real broker (frozen with SIGSTOP, then let go), every record read
back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from collector_util import start_collector, stop_collector
from kafka_util import check_sequence, count_records, read_records
from support import python_script, wait_or_show_stacks, wait_until

from kafkalog.testing import LocalKafka
from kafkalog.transports.collector import query_stats

pytestmark = pytest.mark.integration

QUIET_CLIENTS = 4
QUIET_RECORDS = 200
FLOOD_RECORDS = 10_000

APP = """
    import json, logging, sys, time
    from kafkalog import KafkaHandler
    handler = KafkaHandler(collector={sock!r}, topic={topic!r}, delivery_timeout=6, retry_backoff_max=0.5,
                           queue_max_records={queue}, close_timeout={close})
    log = logging.getLogger("app")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    for i in range({start}, {start} + {count}):
        log.info("record %d", i, extra={{{field!r}: i}})
        if {pause}:
            time.sleep({pause})
    handler.close()
    stats = handler.stats()
    print(json.dumps({{"delivered": stats.delivered, "dropped": dict(stats.dropped)}}))
"""


def _app(sock: Path, topic: str, *, field: str, start: int, count: int, pause: float, queue: int,
         close: float) -> subprocess.Popen[str]:
    return python_script(APP.format(sock=str(sock), topic=topic, field=field, start=start, count=count, pause=pause,
                                    queue=queue, close=close))


def _result(proc: subprocess.Popen[str]) -> dict:
    wait_or_show_stacks(proc, 180)
    stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1])


def test_a_flooding_process_does_not_starve_the_quiet_ones(private_kafka: LocalKafka, tmp_path: Path) -> None:
    """4 quiet processes (200 records each, one every 20 ms, giving up on a batch after 6 s) and one flooding
    10,000 records share a collector with a 2,000-record queue while the broker is frozen: the flooder is held to
    its share (answered busy, counted as over_share), so every quiet record is taken while the broker is frozen and
    arrives once it is back; the flooder's records arrive or are counted as dropped, with a reason, in its own
    process. Without the share the flooder fills the queue and the quiet processes drop on delivery_timeout."""
    topic = f"collector-share-{uuid.uuid4().hex[:8]}"
    private_kafka.create_topic(topic)
    sock = tmp_path / "collector.sock"
    collector = start_collector(private_kafka.bootstrap, sock, "--queue-max-records", "2000")
    quiet: list[subprocess.Popen[str]] = []
    flooder: subprocess.Popen[str] | None = None
    broker = private_kafka.pid
    assert broker is not None
    try:
        quiet = [_app(sock, topic, field="seq", start=n * QUIET_RECORDS, count=QUIET_RECORDS, pause=0.02,
                      queue=100_000, close=20) for n in range(QUIET_CLIENTS)]
        pids = {p.pid for p in quiet}

        def quiet_handing_over() -> bool:
            clients = query_stats(str(sock))["clients"]
            return len({c["pid"] for c in clients if c["pid"] in pids and c["records"] > 0}) == QUIET_CLIENTS

        wait_until(quiet_handing_over, timeout=60, message="the quiet processes did not start handing over")
        os.kill(broker, signal.SIGSTOP)  # nothing leaves the collector's queue from now on
        flooder = _app(sock, topic, field="flood", start=0, count=FLOOD_RECORDS, pause=0, queue=5000, close=2)
        quiet_results = [_result(p) for p in quiet]  # while the broker is still down
        flood_result = _result(flooder)
        stats = query_stats(str(sock))
        os.kill(broker, signal.SIGCONT)
        wait_until(lambda: query_stats(str(sock))["pipeline"]["pending"] == 0, timeout=120,
                   message="the collector did not deliver what it had taken")
        after = query_stats(str(sock))
    finally:
        os.kill(broker, signal.SIGCONT)
        for proc in [*quiet, *([flooder] if flooder else [])]:
            proc.kill()
        stop_collector(collector)
    for result in quiet_results:
        assert result == {"delivered": QUIET_RECORDS, "dropped": {}}, quiet_results
    flooder_stats = next(c for c in stats["recent_clients"] + stats["clients"] if c["pid"] == flooder.pid)
    assert flooder_stats["over_share"] > 0, stats
    assert after["pipeline"]["dropped"] == {}, after["pipeline"]
    records = [r.json()["fields"] for r in read_records(private_kafka.bootstrap, topic,
                                                            count_records(private_kafka.bootstrap, topic))]
    check = check_sequence((f["seq"] for f in records if "seq" in f), QUIET_CLIENTS * QUIET_RECORDS)
    assert check.each_once, check.summary()
    flood = check_sequence((f["flood"] for f in records if "flood" in f), FLOOD_RECORDS)
    dropped = flood_result["dropped"]
    assert flood_result["delivered"] + sum(dropped.values()) == FLOOD_RECORDS, flood_result
    assert set(dropped) <= {"queue_full", "delivery_timeout", "close_timeout", "shutdown"}, dropped
    assert not flood.duplicates and flood.received >= flood_result["delivered"], flood.summary()
    assert len(flood.lost) <= sum(dropped.values()), flood.summary()
