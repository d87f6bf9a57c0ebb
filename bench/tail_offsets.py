"""How far `kafkalog tail`'s saved offset lags behind what the broker has acknowledged, with CPU hogs running.

    python bench/tail_offsets.py [--lines 100000] [--runs 2] [--hogs 2] [--bootstrap HOST:PORT]

A SIGKILLed agent reads again everything after its saved offset: the lines the broker acknowledged since the last
save are shipped twice. This measures that part while a backlog ships: every 20 ms the topic's record count (one
line, one record, a fresh topic: the lines acknowledged) and the line in the offsets file are read; the lag is their
difference. Also the longest time the offsets file did not move while the topic grew. ``--hogs N`` starts N
busy-looping processes for the run (the condition this was measured for: both cores of a small machine busy).
Cases: the defaults (kafka-python and confluent), a small queue (queue_max_records=1000, batch_max_records=50: a
chunk read is larger than the queue), and --spool with a 2 MiB spool.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import NamedTuple

from _common import code_version, progress, table
from tail import TopicCount

from kafkalog.testing import LocalKafka, create_topic

ROOT = Path(__file__).resolve().parents[1]


class Lag(NamedTuple):
    max_lines: int  # most lines acknowledged (in the topic) past the saved offset at one look
    p50_lines: int
    max_stale: float  # longest seconds the saved offset stayed put while the topic grew


def saved_line(state: Path) -> int | None:
    try:
        return int(json.loads((state / "offsets.json").read_text())["files"][0]["line"])
    except (OSError, ValueError, KeyError, IndexError):
        return None


def run_case(bootstrap: str, path: Path, lines: int, work: Path, *, config: str, extra: list[str]) -> Lag:
    topic = f"bench-offsets-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, partitions=1)
    run_dir = work / topic
    run_dir.mkdir()
    (run_dir / "tail.toml").write_text(f"[kafkalog]\n{config}")
    state = run_dir / "state"
    count = TopicCount(bootstrap, topic)
    proc = subprocess.Popen([sys.executable, "-m", "kafkalog", "tail", "--bootstrap-servers", bootstrap,
                             "--topic", topic, "--state-dir", str(state), "--config", str(run_dir / "tail.toml"),
                             *extra, str(path)], stderr=open(run_dir / "err", "wb"), cwd=ROOT)  # noqa: SIM115
    lags: list[int] = []
    stale, last_line, moved_at = 0.0, None, time.monotonic()
    try:
        deadline = time.monotonic() + 600
        while (held := count()) < lines:
            now = time.monotonic()
            line = saved_line(state)
            if line != last_line:
                last_line, moved_at = line, now
            if held and line is not None:
                lags.append(held - (line - 1))
                if line - 1 < held:
                    stale = max(stale, now - moved_at)
            if proc.poll() is not None or now > deadline:
                raise RuntimeError(f"shipper stopped or too slow: {(run_dir / 'err').read_text()[-2000:]}")
            time.sleep(0.02)
    finally:
        count.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    return Lag(max(lags, default=0), int(statistics.median(lags)) if lags else 0, stale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--bootstrap")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-tail-offsets-"))
    path = work / "app.log"
    with open(path, "w") as f:
        f.writelines(f"2026-12-02 10:00:00,123 INFO billing.api seq {i} user=alice paid amount=12.50 "
                     f"request=r-{i:08d}\n" for i in range(args.lines))
    small = "queue_max_records = 1000\nbatch_max_records = 50\n"
    cases = {"defaults, kafka-python": ('transport = "kafka-python"\n', []),
             "small queue, kafka-python": ('transport = "kafka-python"\n' + small, [])}
    if importlib.util.find_spec("confluent_kafka") is not None:
        cases["defaults, confluent"] = ('transport = "confluent"\n', [])
        cases["small queue, confluent"] = ('transport = "confluent"\n' + small, [])
        cases["--spool 2 MiB, confluent"] = ('transport = "confluent"\nspool_segment_bytes = 1048576\n',
                                             ["--spool", "--spool-max-bytes", str(2 * 1024 * 1024)])
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
    results: dict[str, list[Lag]] = {name: [] for name in cases}
    try:
        def measure(bootstrap: str) -> None:
            for run in range(args.runs):
                for name in (list(cases) if run % 2 == 0 else list(reversed(cases))):
                    progress(f"run {run + 1}/{args.runs}: {name}")
                    config, extra = cases[name]
                    results[name].append(run_case(bootstrap, path, args.lines, work, config=config, extra=extra))

        if args.bootstrap:
            measure(args.bootstrap)
        else:
            with LocalKafka() as broker:
                measure(broker.bootstrap)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        shutil.rmtree(work, ignore_errors=True)

    rows = []
    for name, lags in results.items():
        rows.append([name, " / ".join(f"{lag.max_lines:,}" for lag in lags),
                     " / ".join(f"{lag.p50_lines:,}" for lag in lags),
                     " / ".join(f"{lag.max_stale:.2f}" for lag in lags)])
    print(f"\n## kafkalog tail: saved offset behind the topic, {args.lines:,} lines, {args.hogs} CPU hog(s), "
          f"{args.runs} runs (code {code_version()})\n")
    print(table(["case", "max lines acked, not saved (each run)", "median", "longest without a save (s)"], rows))


if __name__ == "__main__":
    main()
