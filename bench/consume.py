"""``kafkalog consume`` read speed: records/s written to a pipe, against ``kcat -C -e`` on the same topic.

    python bench/consume.py [--quick] [--records N] [--bootstrap HOST:PORT]

One topic (one partition) is filled once with N records (default 200,000) shipped by ``KafkaHandler``: the bench
record of bench/README.md, every tenth one a warning. Then each case reads the whole topic from the beginning
to its end, in a fresh process whose stdout is a pipe this script drains (counting lines: a run counts only if
every record came out), timed from the process's start to its exit (interpreter start and imports included):

- ``kcat -C -e -q`` (the baseline: librdkafka, values as stored, one per line)
- ``kafkalog consume -o ndjson`` with each client (confluent, the default when installed; kafka-python)
- ``-o raw`` (no parsing), ``-o pretty`` (colour off, as in a pipe) and ``-o ndjson --level warning`` (a filter
  that keeps a tenth) with the confluent client, and ``-o raw`` with kafka-python

Cases are interleaved, in an order that rotates each run; each ratio is computed run by run against kcat's time
in the same run. Cells are median (min-max) over the runs.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from _common import code_version, progress, table

ROOT = Path(__file__).resolve().parents[1]
KAFKALOG = [sys.executable, "-m", "kafkalog", "consume"]


def cases(bootstrap: str, topic: str) -> dict[str, tuple[list[str], int | None]]:
    """name -> (command, expected lines or None for "the whole topic")."""
    base = [*KAFKALOG, "-b", bootstrap, "-t", topic]
    return {
        "kcat -C -e -q": (["kcat", "-C", "-e", "-q", "-b", bootstrap, "-t", topic], None),
        "kafka-python ndjson": ([*base, "-o", "ndjson", "--transport", "kafka-python"], None),
        "kafka-python raw": ([*base, "-o", "raw", "--transport", "kafka-python"], None),
        "confluent ndjson": ([*base, "-o", "ndjson", "--transport", "confluent"], None),
        "confluent raw": ([*base, "-o", "raw", "--transport", "confluent"], None),
        "confluent pretty": ([*base, "-o", "pretty", "--color", "never", "--transport", "confluent"], None),
        "confluent ndjson --level warning": ([*base, "-o", "ndjson", "--level", "warning", "--transport", "confluent"],
                                             -10),
    }


def fill(bootstrap: str, topic: str, count: int) -> None:
    from kafkalog import KafkaHandler

    handler = KafkaHandler(bootstrap, topic, transport="confluent", queue_max_records=count + 1,
                           queue_max_bytes=2**31)
    log = logging.Logger("bench.consume")
    log.addHandler(handler)
    for i in range(count):
        level = logging.WARNING if i % 10 == 0 else logging.INFO
        log.log(level, "user %s paid %d", "alice", 42, extra={"action": "pay", "order": "A-1", "amount": 12.5})
    if not handler.flush(300):
        raise SystemExit(f"filling the topic did not finish: {handler.stats()}")
    handler.close()
    stats = handler.stats()
    if stats.delivered != count:
        raise SystemExit(f"filling the topic: {stats}")


def run_case(command: list[str]) -> tuple[float, int]:
    """Seconds from start to exit, and lines written."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NO_COLOR", None)
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    assert proc.stdout is not None
    lines = 0
    while chunk := proc.stdout.read(1 << 20):
        lines += chunk.count(b"\n")
    err = proc.stderr.read() if proc.stderr else b""
    code = proc.wait()
    elapsed = time.perf_counter() - began
    if code != 0:
        raise SystemExit(f"{command} exited {code}: {err.decode(errors='replace')[-500:]}")
    return elapsed, lines


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    from kafkalog.testing import LocalKafka

    with LocalKafka() as local:
        yield local.bootstrap


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="50,000 records, 2 runs")
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    count = args.records or (50_000 if args.quick else 200_000)
    runs = args.runs or (2 if args.quick else 5)
    if shutil.which("kcat") is None:
        raise SystemExit("kcat is not installed (Debian/Ubuntu: apt-get install -y kcat)")
    with broker(args.bootstrap) as bootstrap:
        from kafkalog.testing import create_topic

        topic = f"bench-consume-{uuid.uuid4().hex[:8]}"
        create_topic(bootstrap, topic, partitions=1)
        progress(f"filling {topic} with {count:,} records")
        fill(bootstrap, topic, count)
        table_cases = cases(bootstrap, topic)
        names = list(table_cases)
        seconds: dict[str, list[float]] = {n: [] for n in names}
        ratios: dict[str, list[float]] = {n: [] for n in names}
        for run in range(runs):
            order = names[run % len(names):] + names[:run % len(names)]
            this_run: dict[str, float] = {}
            for name in order:
                command, expected = table_cases[name]
                elapsed, lines = run_case(command)
                want = count if expected is None else count // -expected
                if lines != want:
                    raise SystemExit(f"{name}: {lines} lines, expected {want}")
                this_run[name] = elapsed
                progress(f"run {run + 1}/{runs} {name}: {elapsed:.2f} s")
            for name in names:
                seconds[name].append(this_run[name])
                ratios[name].append(this_run["kcat -C -e -q"] / this_run[name])

    def cell(values: list[float], fmt: str) -> str:
        if len(values) == 1:
            return fmt.format(values[0])
        return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"

    rows = [[name, cell([count / s for s in seconds[name]], "{:,.0f}"), cell(seconds[name], "{:.2f}"),
             cell(ratios[name], "{:.2f}") + "x"] for name in names]
    print(f"kafkalog consume vs kcat: {count:,} records (one partition), {runs} runs, code {code_version()}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(table(["case", "records/s", "s per run", "speed vs kcat (run by run)"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
