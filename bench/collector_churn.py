"""64 clients coming and going while records flow through one collector: its memory and its rate.

    python bench/collector_churn.py [--records 1000000] [--bootstrap HOST:PORT]

8 processes x 8 threads, each thread with its own connection, reconnecting every 5 batches of 100 records, hand
``--records`` records to ``kafkalog collect --transport auto`` (16 MiB queue, 1 MiB frames). Reported: the
collector's resident memory at start and at its peak (sampled every 0.1 s), records/s handed over (first batch to
last acknowledgement) and until all were delivered, and the collector's own totals (taken, delivered, dropped).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

from _common import code_version, progress

from kafkalog.testing import LocalKafka, create_topic
from kafkalog.transports.collector import query_stats

ROOT = Path(__file__).resolve().parents[1]
CLIENT = """
import json, threading, time
from kafkalog.transports.collector import CollectorTransport
from kafkalog.typing import Message

def run(first, count):
    seq = first
    while seq < first + count:
        transport = CollectorTransport({sock!r})
        for _ in range(5):
            batch = [Message({topic!r}, None, json.dumps({{"fields": {{"seq": n}}, "msg": "x" * 100}}).encode(), 0)
                     for n in range(seq, min(seq + 100, first + count))]
            if not batch:
                break
            while any(transport.send(batch, 10.0)):
                time.sleep(0.02)
            seq += len(batch)
        transport.close(1.0)

threads = [threading.Thread(target=run, args=({first} + n * {per}, {per})) for n in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--bootstrap")
    args = parser.parse_args()
    per = args.records // 64
    total = per * 64
    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap or stack.enter_context(LocalKafka()).bootstrap
        topic = f"bench-churn-{uuid.uuid4().hex[:8]}"
        create_topic(bootstrap, topic, partitions=4)
        sock = Path(tempfile.mkdtemp()) / "collector.sock"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        collector = subprocess.Popen([sys.executable, "-m", "kafkalog", "collect", "--socket", str(sock),
                                      "--bootstrap-servers", bootstrap, "--queue-max-bytes", str(16 << 20),
                                      "--max-frame-bytes", str(1 << 20)], env=env, stderr=subprocess.DEVNULL)
        stack.callback(lambda: (collector.send_signal(signal.SIGTERM), collector.wait(60)))
        while True:
            with contextlib.suppress(OSError):
                query_stats(str(sock), timeout=1.0)
                break
            time.sleep(0.1)
        start_rss = rss_kib(collector.pid)
        peak = [start_rss]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.1):
                with contextlib.suppress(OSError):
                    peak[0] = max(peak[0], rss_kib(collector.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        progress(f"{total:,} records from 64 connections")
        started = time.perf_counter()
        clients = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(CLIENT.format(
            sock=str(sock), topic=topic, first=n * 8 * per, per=per))], env=env) for n in range(8)]
        for client in clients:
            client.wait()
        handed = time.perf_counter() - started
        while query_stats(str(sock))["pipeline"]["delivered"] < total:
            time.sleep(0.1)
        delivered = time.perf_counter() - started
        stop.set()
        sampler.join()
        stats = query_stats(str(sock))
        print(f"code {code_version()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        print(f"{total:,} records, 64 connections reconnecting every 5 batches of 100, 16 MiB queue, 1 MiB frames")
        print(f"collector memory: {start_rss / 1024:.0f} MiB at start, {peak[0] / 1024:.0f} MiB at peak")
        print(f"handed over: {total / handed:,.0f} records/s; all delivered: {total / delivered:,.0f} records/s")
        print(f"collector totals: taken {stats['records']:,}, delivered {stats['pipeline']['delivered']:,}, "
              f"dropped {stats['pipeline']['dropped']}, busy answers {stats['busy']:,}, cut off {stats['cut_off']}")


if __name__ == "__main__":
    main()
