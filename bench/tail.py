"""`kafkalog tail` throughput and CPU, file to broker acknowledgement, beside rsyslog (imfile + omkafka).

    python bench/tail.py [--lines 200000] [--runs 3] [--bootstrap HOST:PORT]

Each run writes nothing new: the file of N lines (~100 bytes each) exists before the shipper starts, so the
number is how fast a backlog goes from a file into Kafka. Time: from starting the shipper's process until the
topic holds N records (start included), and apart: the start (until the first record is in the topic: Python's
imports, connecting, and for an idempotent producer getting its producer id) and the rate once shipping (from
the first record to the last). CPU: the shipper process's user+system time (all its threads) at that moment,
per line. Runs are interleaved (kafkalog, rsyslog, kafkalog, ...), each into a
fresh topic; medians with min-max. rsyslog (Debian packages rsyslog and rsyslog-kafka) ships a compact JSON
object per line (msg, host, time) with acks=all; kafkalog ships its full record (docs/record-format.md) with
acks=all, with each transport (kafka-python, the default, and confluent-kafka when installed), and with
confluent once more through its disk spool (--spool). The baseline is rsyslog measured in the same run.
``--only TEXT`` runs the shippers whose name holds TEXT.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from _common import code_version, progress, table

from kafkalog.testing import LocalKafka, create_topic

ROOT = Path(__file__).resolve().parents[1]
RSYSLOG_CONF = """
global(workDirectory="{work}")
module(load="imfile")
module(load="omkafka")
template(name="line" type="list") {{
  constant(value="{{\\"msg\\":\\"") property(name="msg" format="json")
  constant(value="\\",\\"host\\":\\"") property(name="hostname")
  constant(value="\\",\\"time\\":\\"") property(name="timegenerated" dateFormat="rfc3339")
  constant(value="\\"}}")
}}
ruleset(name="tokafka") {{
  action(type="omkafka" broker=["{bootstrap}"] topic="{topic}" template="line" confParam=["acks=all"])
}}
input(type="imfile" File="{path}" Tag="bench" ruleset="tokafka" freshStartTail="off")
"""


class TopicCount:
    """How many records a one-partition topic holds, asked of the broker each time (one client for the run)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap)
        self._partition = TopicPartition(topic, 0)

    def __call__(self) -> int:
        return int(self._consumer.end_offsets([self._partition])[self._partition])

    def close(self) -> None:
        self._consumer.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_shipper(start: Callable[[str, Path], subprocess.Popen[bytes]], bootstrap: str, lines: int,
                work: Path) -> Run:
    """One run into a fresh topic, the topic's count asked every 20 ms."""
    topic = f"bench-tail-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, partitions=1)
    run_dir = work / topic
    run_dir.mkdir()
    count = TopicCount(bootstrap, topic)
    started = time.monotonic()
    proc = start(topic, run_dir)
    first: tuple[float, int] | None = None  # when the topic first held records, and how many
    try:
        deadline = started + 600
        while (held := count()) < lines:
            if held and first is None:
                first = time.monotonic(), held
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"shipper stopped or too slow: {(run_dir / 'err').read_text()[-2000:]}")
            time.sleep(0.02)
        ended = time.monotonic()
        cpu = cpu_seconds(proc.pid)
    finally:
        count.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    first_at, first_held = first or (ended, lines)
    shipping = (lines - first_held) / (ended - first_at) if ended > first_at else float("nan")
    return Run(lines / (ended - started), shipping, first_at - started, cpu / lines * 1e6)


class Run(NamedTuple):
    rate: float  # lines/s, from starting the process to the last acknowledgement
    shipping: float  # lines/s, from the first record in the topic to the last
    start: float  # seconds from starting the process to its first record in the topic
    cpu: float  # µs per line, all threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bootstrap")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="run only the shippers whose name contains TEXT (repeatable)")
    args = parser.parse_args()
    rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    has_rsyslog = os.path.exists(rsyslogd)
    work = Path(tempfile.mkdtemp(prefix="bench-tail-"))
    path = work / "app.log"
    with open(path, "w") as f:
        f.writelines(f"2026-12-02 10:00:00,123 INFO billing.api seq {i} user=alice paid amount=12.50 "
                     f"request=r-{i:08d}\n" for i in range(args.lines))

    def kafkalog_tail(bootstrap: str, transport: str, *extra: str) -> Callable[[str, Path], subprocess.Popen[bytes]]:
        def start(topic: str, run_dir: Path) -> subprocess.Popen[bytes]:
            config = run_dir / "tail.toml"
            config.write_text(f'[kafkalog]\ntransport = "{transport}"\n')
            return subprocess.Popen([sys.executable, "-m", "kafkalog", "tail", "--bootstrap-servers", bootstrap,
                                     "--topic", topic, "--state-dir", str(run_dir / "state"),
                                     "--config", str(config), *extra, str(path)],
                                    stderr=open(run_dir / "err", "wb"), cwd=ROOT)
        return start

    def rsyslog(bootstrap: str) -> Callable[[str, Path], subprocess.Popen[bytes]]:
        def start(topic: str, run_dir: Path) -> subprocess.Popen[bytes]:
            conf = run_dir / "rsyslog.conf"
            conf.write_text(RSYSLOG_CONF.format(work=run_dir, bootstrap=bootstrap, topic=topic, path=path))
            return subprocess.Popen([rsyslogd, "-n", "-f", str(conf), "-i", str(run_dir / "pid")],
                                    stderr=open(run_dir / "err", "wb"), stdout=subprocess.DEVNULL)
        return start

    def measure(bootstrap: str) -> dict[str, list[Run]]:
        targets = {"kafkalog tail": kafkalog_tail(bootstrap, "kafka-python")}
        if importlib.util.find_spec("confluent_kafka") is not None:
            targets["kafkalog tail, transport=confluent"] = kafkalog_tail(bootstrap, "confluent")
            targets["kafkalog tail --spool, transport=confluent"] = kafkalog_tail(bootstrap, "confluent", "--spool")
        if has_rsyslog:
            targets["rsyslog imfile+omkafka"] = rsyslog(bootstrap)
        if args.only:
            targets = {name: start for name, start in targets.items() if any(text in name for text in args.only)}
        results: dict[str, list[Run]] = {name: [] for name in targets}
        for run in range(args.runs):
            names = list(targets) if run % 2 == 0 else list(reversed(targets))
            for name in names:
                progress(f"run {run + 1}/{args.runs}: {name}")
                results[name].append(run_shipper(targets[name], bootstrap, args.lines, work))
        return results

    try:
        if args.bootstrap:
            results = measure(args.bootstrap)
        else:
            with LocalKafka() as broker:
                results = measure(broker.bootstrap)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def cell(values: list[float], fmt: str) -> str:
        return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"

    rows = []
    base = results.get("rsyslog imfile+omkafka")
    for name, runs in results.items():
        columns = [[getattr(run, field) for run in runs] for field in Run._fields]
        ratio = ""
        if base is not None:
            ratio = " / ".join(f"{statistics.median(mine) / statistics.median([getattr(r, field) for r in base]):.2f}x"
                               for mine, field in zip(columns, Run._fields, strict=True) if field != "start")
        rows.append([name, cell(columns[0], ",.0f"), cell(columns[1], ",.0f"), cell(columns[2], ".2f"),
                     cell(columns[3], ".1f"), ratio])
    print(f"\n## kafkalog tail, {args.lines:,} lines file -> ack, {args.runs} runs (code {code_version()})\n")
    print(table(["shipper", "lines/s, start included", "lines/s once shipping", "first record after (s)",
                 "CPU µs/line", "vs rsyslog (rate / shipping rate / CPU)"], rows))
    if not has_rsyslog:
        print("\nrsyslog not installed (apt-get install rsyslog rsyslog-kafka): no baseline in this run")


if __name__ == "__main__":
    main()
