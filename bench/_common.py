"""Helpers shared by the benchmark scripts: progress lines, percentiles, tables, the code version."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import kafkalog


def progress(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


def percentile(sorted_values: list[int], q: float) -> int:
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def code_version() -> str:
    """The commit the measured code is at (the package is installed editable), or "?"."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=True,
                             cwd=Path(kafkalog.__file__).parent, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.strip() or "?"


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join(lines)


def start_collect(bootstrap: str, sock: Path, *extra: str) -> subprocess.Popen[bytes]:
    """``kafkalog collect`` on ``sock`` (``extra``: more of its flags), returned once it answers."""
    from kafkalog.transports.collector import query_stats

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "kafkalog", "collect", "--socket", str(sock),
                             "--bootstrap-servers", bootstrap, *extra], stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(root)})
    deadline = time.monotonic() + 60
    while True:
        try:
            query_stats(str(sock), timeout=1.0)
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("the collector did not start") from None
            time.sleep(0.1)
