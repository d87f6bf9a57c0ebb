"""Where the time goes in one KafkaHandler case: a per-thread profile of the app thread and of the worker.

    python bench/profile_case.py [--transport kafka-python|confluent] [--mode burst|e2e] [-n N]
                                 [--profiler yappi|sample] [--bootstrap HOST:PORT] [--top 12]

burst: N back-to-back calls (the app thread's cost, as in run_all.py target 2); e2e: N calls and flush() until
all are acknowledged (target 3). With yappi installed (``pip install yappi``; not a dependency of the project)
the profile is CPU time per function and per thread (yappi's cpu clock, builtins included); without it, or
with ``--profiler sample``, a sampler thread reads ``sys._current_frames()`` every millisecond and counts the
innermost frame of each thread (wall time, whatever the thread was doing: running, or waiting for the GIL).
Profilers slow Python down (yappi ~2x): read the shares, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from kafkalog import KafkaHandler
from kafkalog.testing.broker import LocalKafka, create_topic

EXTRA = {"action": "pay", "order": "A-1", "amount": 12.5}


def kind_of(name: str, is_main: bool) -> str:
    if is_main:
        return "app thread"
    if name.startswith("kafkalog-"):
        return "kafkalog worker"
    if name.endswith("network-thread"):
        return "kafka-python network thread"
    return f"other: {name}"


def short(path: str) -> str:
    parts = Path(path).parts
    for anchor in ("kafkalog", "kafka", "confluent_kafka", "logging", "json"):
        if anchor in parts:
            return "/".join(parts[parts.index(anchor):])
    return Path(path).name


class Sampler:
    """Counts the innermost frame of every Python thread every ``interval`` seconds (wall-clock samples)."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.samples: dict[str, Counter[str]] = defaultdict(Counter)
        self.stacks: dict[str, Counter[str]] = defaultdict(Counter)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def _run(self) -> None:
        me = threading.get_ident()
        main = threading.main_thread().ident
        while not self._stop.wait(self.interval):
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                kind = kind_of(names.get(ident, "?"), ident == main)
                code = frame.f_code
                self.samples[kind][f"{code.co_name} ({short(code.co_filename)}:{frame.f_lineno})"] += 1
                chain = []
                f: Any = frame
                while f is not None and len(chain) < 4:
                    chain.append(f.f_code.co_name)
                    f = f.f_back
                self.stacks[kind[:40]][" < ".join(chain)] += 1

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self, top: int) -> str:
        out = []
        for kind, counter in sorted(self.samples.items()):
            total = sum(counter.values())
            out.append(f"\n[{kind}] {total} samples (~{total * self.interval * 1000:.0f} ms of wall time)")
            for where, count in counter.most_common(top):
                out.append(f"  {count / total:6.1%}  {where}")
            out.append("  innermost frames with their callers:")
            for chain, count in self.stacks[kind[:40]].most_common(min(top, 6)):
                out.append(f"  {count / total:6.1%}  {chain}")
        return "\n".join(out)


@contextlib.contextmanager
def yappi_profile(top: int, out: list[str]) -> Any:
    import yappi

    yappi.set_clock_type("cpu")
    yappi.clear_stats()
    yappi.start(builtins=True, profile_threads=True)
    try:
        yield
    finally:
        yappi.stop()
        names = {}
        for t in threading.enumerate():
            names[t.ident] = names[t.native_id] = t.name
        for thread in yappi.get_thread_stats():  # yappi's name is the class name; tid is the OS thread id
            kind = kind_of(names.get(thread.tid, thread.name), thread.name == "_MainThread")
            stats = yappi.get_func_stats(filter={"ctx_id": thread.id})
            if not len(stats):
                continue
            out.append(f"\n[{kind}] {thread.ttot * 1000:.0f} ms CPU (yappi cpu clock), top by own time:")
            stats.sort("tsub", "desc")
            for stat in list(stats)[:top]:
                out.append(f"  {stat.tsub * 1000:8.1f} ms own {stat.ttot * 1000:8.1f} ms incl {stat.ncall:>8} calls  "
                           f"{stat.name} ({short(stat.module)}:{stat.lineno})")
        yappi.clear_stats()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", default="kafka-python", choices=["kafka-python", "confluent"])
    parser.add_argument("--mode", default="burst", choices=["burst", "e2e"])
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--profiler", choices=["yappi", "sample"])
    parser.add_argument("--bootstrap", metavar="HOST:PORT")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    profiler = args.profiler
    if profiler is None:
        try:
            import yappi  # noqa: F401
            profiler = "yappi"
        except ImportError:
            profiler = "sample"
    client = logging.getLogger("kafka")
    client.addHandler(logging.NullHandler())
    client.propagate = False

    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap or stack.enter_context(LocalKafka()).bootstrap
        topic = f"bench-profile-{uuid.uuid4().hex[:8]}"
        create_topic(bootstrap, topic)
        handler = KafkaHandler(bootstrap, topic, transport=args.transport)
        log = logging.getLogger("bench.profile")
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(handler)
        for _ in range(500):
            log.info("user %s paid %d", "alice", 42, extra=EXTRA)
        handler.flush(60)
        lines: list[str] = []
        sampler = Sampler() if profiler == "sample" else None
        profile: Any = sampler if sampler is not None else yappi_profile(args.top, lines)
        start = time.perf_counter()
        with profile:
            for _ in range(args.n):
                log.info("user %s paid %d", "alice", 42, extra=EXTRA)
            calls_done = time.perf_counter()
            if args.mode == "e2e":
                handler.flush(120)
        end = time.perf_counter()
        stats = handler.stats()
        handler.close()
        print(f"{args.transport}, {args.mode} of {args.n} records, profiler {profiler}: calls "
              f"{(calls_done - start) / args.n * 1e6:.1f} µs each (profiled), total {end - start:.2f}s; "
              f"delivered {stats.delivered}, backlog {stats.queue_depth + stats.in_flight} at close")
        print(sampler.report(args.top) if sampler is not None else "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
