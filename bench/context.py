"""What trace ids, bound context, headers and the structlog processor cost on the application's thread, against
the plain handler in the same run.

    python bench/context.py [--quick]

1. ``current_ids()`` alone, ns per call: OpenTelemetry not imported (``opentelemetry.trace`` absent from
   ``sys.modules``), imported with no active span, and inside an active SDK span. 1b: reading the bound context
   (nothing bound; 5 values merged under 3 extras) and rendering two headers, alone.
2. ``KafkaHandler.handle`` per call on the memory transport (build, encode, queue), 20,000 back-to-back calls: the
   plain handler (``trace_ids=False``, nothing bound: no lookup at all) against the default handler in each
   OpenTelemetry state, with 5 values bound (``kafkalog.bound``), and with two headers (one fixed, one template).
3. structlog, µs per ``log.info`` call: ``KafkaProcessor`` (``passthrough=False``) against structlog's stdlib path
   (``render_to_log_kwargs`` into a ``KafkaHandler``), with ``add_log_level`` and ``merge_contextvars`` in both.

Needs opentelemetry-sdk and structlog (the dev extra). Same method as bench/schemas.py: cases interleaved slice by
slice, rotated each run, a run's value is its fastest slice; cells are median (min-max) over the runs, ratios are
taken run by run against the first row. No broker is needed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import platform
import sys
import time
from collections.abc import Callable, Iterator

import structlog
from _common import code_version, progress, table
from opentelemetry.sdk.trace import TracerProvider
from schemas import _record, interleaved, rows

import kafkalog
from kafkalog import KafkaHandler, KafkaLogConfig, KafkaProcessor, _trace
from kafkalog.context import get_bound
from kafkalog.transports import MemoryTransport

TRACE_MODULE = "opentelemetry.trace"
TRACER = TracerProvider().get_tracer("bench")
BOUND = {"request_id": "r-1", "user": "alice", "tenant": "acme", "route": "/pay", "attempt": 1}


@contextlib.contextmanager
def otel_state(state: str) -> Iterator[None]:
    """``absent``: as if OpenTelemetry were never imported; ``no span``; ``span``: inside an active span."""
    _trace._get_current_span = None
    module = sys.modules.pop(TRACE_MODULE) if state == "absent" else None
    try:
        if state == "span":
            with TRACER.start_as_current_span("bench"):
                yield
        else:
            yield
    finally:
        if module is not None:
            sys.modules[TRACE_MODULE] = module
        _trace._get_current_span = None


def lookup_case(state: str) -> Callable[[int], float]:
    def run(n: int) -> float:
        with otel_state(state):
            current = _trace.current_ids
            start = time.perf_counter()
            for _ in range(n):
                current()
            return (time.perf_counter() - start) / n * 1e9

    return run


def step_case(step: str) -> Callable[[int], float]:
    """One per-record step alone: reading the context (nothing bound / 5 values bound, merged under 3 extras),
    or rendering two headers (one fixed, one template)."""
    extras = {"action": "pay", "order": "A-1", "amount": 12.5}
    render = KafkaLogConfig(bootstrap_servers="127.0.0.1:9", topic="bench", transport="memory",
                            handle_sigterm=False, headers={"app": "shop", "svc": "{service}"}).headers_for
    event = {"type": "info", "service": "billing", "fields": extras}

    def run(n: int) -> float:
        with kafkalog.bound(**BOUND) if step == "context, 5 bound" else contextlib.nullcontext():
            get = get_bound
            fields = extras
            start = time.perf_counter()
            if step == "headers" and render is not None:
                for _ in range(n):
                    render(event)
            else:
                for _ in range(n):
                    context = get()
                    fields = {**context, **extras} if context else extras
            del fields
            return (time.perf_counter() - start) / n * 1e9

    return run


def handle_case(state: str, **options: object) -> Callable[[int], float]:
    bound = options.pop("bound", False)

    def run(n: int) -> float:
        handler = KafkaHandler("127.0.0.1:9", "bench", transport=MemoryTransport(), static_fields={"service": "b"},
                               handle_sigterm=False, queue_max_records=n + 10, **options)  # type: ignore[arg-type]
        record = _record(False)
        handle = handler.handle
        try:
            with otel_state(state), kafkalog.bound(**BOUND) if bound else contextlib.nullcontext():
                start = time.perf_counter()
                for _ in range(n):
                    handle(record)
                return (time.perf_counter() - start) / n * 1e6
        finally:
            handler.close(10)

    return run


def structlog_case(native: bool) -> Callable[[int], float]:
    def run(n: int) -> float:
        common = [structlog.contextvars.merge_contextvars, structlog.processors.add_log_level]
        if native:
            sink: KafkaProcessor | KafkaHandler = KafkaProcessor(
                "127.0.0.1:9", "bench", transport=MemoryTransport(), passthrough=False, handle_sigterm=False,
                queue_max_records=n + 10)
            log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[*common, sink])
        else:
            sink = KafkaHandler("127.0.0.1:9", "bench", transport=MemoryTransport(), handle_sigterm=False,
                                queue_max_records=n + 10)
            std = logging.Logger("bench.structlog", logging.INFO)
            std.addHandler(sink)
            log = structlog.wrap_logger(std, wrapper_class=structlog.stdlib.BoundLogger,
                                        processors=[*common, structlog.stdlib.render_to_log_kwargs])
        log = log.bind(order="A-1")
        info = log.info
        try:
            with otel_state("absent"):
                start = time.perf_counter()
                for _ in range(n):
                    info("user paid", action="pay", amount=12.5)
                return (time.perf_counter() - start) / n * 1e6
        finally:
            sink.close(10)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and records")
    args = parser.parse_args(argv)
    runs, n = (3, 5_000) if args.quick else (7, 20_000)
    print(f"kafkalog {kafkalog.__version__} ({code_version()}) context | Python {platform.python_version()} | "
          f"{runs} runs x {n} records\n")
    progress("current_ids()")
    results = interleaved({f"OTel {state}": lookup_case(state) for state in ("absent", "no span", "span")},
                          runs, n * 10)
    print("1. current_ids(): ns per call\n")
    print(table(["state", "ns median (min-max)", "vs absent"], rows(results, "OTel absent")) + "\n")
    progress("steps")
    results = interleaved({step: step_case(step) for step in ("context, none bound", "context, 5 bound", "headers")},
                          runs, n * 10)
    print("1b. the other per-record steps alone: ns per call\n")
    print(table(["step", "ns median (min-max)", "vs none bound"], rows(results, "context, none bound")) + "\n")
    progress("handle()")
    cases = {
        "plain (trace_ids=False)": handle_case("absent", trace_ids=False),
        "OTel not imported": handle_case("absent"),
        "OTel imported, no span": handle_case("no span"),
        "OTel imported, in a span": handle_case("span"),
        "5 values bound": handle_case("absent", bound=True),
        "headers (fixed + {template})": handle_case("absent", headers={"app": "shop", "svc": "{service}"}),
    }
    results = interleaved(cases, runs, n)
    print("2. KafkaHandler.handle() on the memory transport: µs per call\n")
    print(table(["case", "µs median (min-max)", "vs plain"], rows(results, "plain (trace_ids=False)")) + "\n")
    progress("structlog")
    results = interleaved({"stdlib path (render_to_log_kwargs)": structlog_case(False),
                           "KafkaProcessor": structlog_case(True)}, runs, n)
    print("3. structlog log.info(): µs per call\n")
    print(table(["path", "µs median (min-max)", "vs stdlib path"],
                rows(results, "stdlib path (render_to_log_kwargs)")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
