"""Where `kafkalog tail`'s CPU per line goes, stage by stage, on one thread, without a broker.

    python bench/tail_stages.py [--lines 200000] [--runs 5]

The same ~100-byte lines as bench/tail.py, through the agent's own pieces. The default path (plain lines, no
spool): splitting 256 KiB reads into bytes lines, encoding their records into the per-read template, making the
messages and queueing them (AckedQueue), and the sender's side: taking batches and finishing them. Then the
general path (any line, and ``--spool``): splitting into str lines, numbering them into entries, building and
encoding records, putting each read's batch into the spool queue (frames, one write) and reading it back.
Handing records to the client is not here (bench/run_all.py measures the transports). Best of ``--runs``, CPU
µs per line.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from itertools import repeat
from typing import Any

from _common import code_version, table

from kafkalog import KafkaLogConfig
from kafkalog._messages import _new_message
from kafkalog.buffers import AckedQueue, Ledger, SpoolQueue
from kafkalog.spool import DiskSpool
from kafkalog.tail import shipper_config
from kafkalog.tail._events import EventMaker
from kafkalog.tail._lines import EntryAssembler, LineSplitter, PlainRead
from kafkalog.typing import Message

CHUNK = 256 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    n = args.lines
    data = "".join(f"2026-12-02 10:00:00,123 INFO billing.api seq {i} user=alice paid amount=12.50 "
                   f"request=r-{i:08d}\n" for i in range(n)).encode()
    chunks = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]
    rows: list[list[str]] = []

    def stage(name: str, run: Callable[[], Any], setup: Callable[[], None] = lambda: None) -> Any:
        best, result = float("inf"), None
        for _ in range(args.runs):
            setup()
            started = time.process_time()
            result = run()
            best = min(best, time.process_time() - started)
        rows.append([name, f"{best / n * 1e6:.2f}"])
        return result

    def split_plain() -> list[Any]:
        splitter, assembler = LineSplitter(0, 512 * 1024), EntryAssembler(None, 0, 1)
        reads = []
        for chunk in chunks:
            got = splitter.feed_plain(chunk)
            assert got is not None
            body, lines, start = got
            end = start + len(body) + 1
            reads.append(PlainRead(body, lines, assembler.add_plain(len(lines), end), start, end))
        return reads

    plain_maker = EventMaker(host="host-1", fmt="text", static_fields={})
    plain_now = time.time()
    plain_reads = stage("default: split reads into plain lines", split_plain)
    encoded = stage("default: encode records (template per read)",
                    lambda: [plain_maker.encode_plain(r, "/var/log/a.log", plain_now, 1_000_000) for r in plain_reads])
    ms = int(plain_now * 1000)
    acked = AckedQueue(KafkaLogConfig(bootstrap_servers="127.0.0.1:9", topic="bench", queue_max_records=n + 1,
                                      queue_max_bytes=1 << 34), Ledger(), lambda: None)

    def queue_plain() -> None:
        for records in encoded:
            messages = list(map(_new_message, zip(repeat("bench"), repeat(None), records, repeat(ms), repeat(None))))
            acked.put_many(messages)

    def take_plain() -> None:
        while (taken := acked.take(10_000)) is not None:
            acked.finish(taken, True)

    stage("default: make messages and queue them", queue_plain, take_plain)
    stage("default: take batches and finish them (sender)", take_plain, lambda: (take_plain(), queue_plain()))
    take_plain()

    def split() -> list[Any]:
        splitter = LineSplitter(0, 512 * 1024)
        return [splitter.feed(chunk) for chunk in chunks]

    reads = stage("general: split reads into lines", split)
    entries = stage("general: number lines into entries",
                    lambda: [EntryAssembler(None, 0, 1).add(lines) for lines in reads])
    maker = EventMaker(host="host-1", fmt="text", static_fields={})
    now = time.time()
    stage("general: build records as dicts (custom schema or routing)",
          lambda: [maker.make_many(batch, "/var/log/app.log", now) for batch in entries])
    events = stage("general: build and encode records",
                   lambda: [maker.make_many(batch, "/var/log/app.log", now, 1_000_000)[0] for batch in entries])
    ms = int(now * 1000)
    batches = [[Message("bench", None, data, ms) for data in batch] for batch in events]
    with tempfile.TemporaryDirectory() as work:
        config = shipper_config(bootstrap_servers="127.0.0.1:9", topic="bench", state_dir=work, spool=True)
        spool = DiskSpool(f"{work}/spool", max_bytes=1 << 31)
        queue = SpoolQueue(config, spool, Ledger(), lambda: None, lambda kind, text: None)  # no sender
        stage("--spool: put each read into the spool (frames, one write)",
              lambda: [queue.put_many(batch) for batch in batches])

        def read_back() -> int:
            count = 0
            while (taken := queue.take(500)) is not None:
                count += len(taken.messages)
                queue.finish(taken, True)
            return count

        def fill() -> None:
            for batch in batches:
                queue.put_many(batch)

        read_back()  # the puts' runs above, drained
        stage("--spool: read the spool back and commit (sender)", read_back, fill)
        queue.stop()
    default = sum(float(r[1]) for r in rows if r[0].startswith("default"))
    spool = sum(float(r[1]) for r in rows if r[0].startswith(("general", "--spool")) and "as dicts" not in r[0])
    rows.append(["total, default path (plain lines, no spool)", f"{default:.2f}"])
    rows.append(["total, general path with --spool", f"{spool:.2f}"])
    print(f"\n## kafkalog tail stages, {n:,} lines, best of {args.runs} (code {code_version()})\n")
    print(table(["stage", "CPU µs/line"], rows))


if __name__ == "__main__":
    main()
