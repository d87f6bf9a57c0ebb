"""A minimal OpenTelemetry Collector (kafkareceiver, file and debug exporters) built from pinned Go modules.

Built once per machine and version under ``~/.cache/kafkalog/otelcol-<version>/`` (about 4-20 minutes on 2 cores,
depending on load and the Go module cache): :func:`start_build` begins it in the background when the session
collects a test marked ``otelcol``, and :func:`collector` waits for it. A lock file keeps parallel sessions from
building it twice. Without Go the tests that need it skip, or fail under ``CI=true``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

VERSION = "0.165.0"
CACHE = Path.home() / ".cache" / "kafkalog" / f"otelcol-{VERSION}"
BINARY = CACHE / "build" / "otelcol-kafkalog"
MANIFEST = f"""\
dist:
  name: otelcol-kafkalog
  description: Minimal OpenTelemetry Collector for kafkalog's tests
  output_path: ./build
receivers:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/receiver/kafkareceiver v{VERSION}
exporters:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter v{VERSION}
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter v{VERSION}
"""
BUILD_TIMEOUT = 1800.0

_thread: threading.Thread | None = None
_error: list[str] = []


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")


def _build() -> None:
    """Generate the sources with the Collector Builder, then ``go mod tidy -e`` (the file exporter's tests import
    a module the proxy does not serve: tidy without -e stops there) and ``go build``."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session building: wait for it, then use its binary
        if BINARY.exists():
            return
        go = shutil.which("go")
        if go is None:
            raise RuntimeError("the Go toolchain (go) is not installed")
        env = {**os.environ, "GOBIN": str(CACHE / "bin"), "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0"}
        builder = CACHE / "bin" / "builder"
        if not builder.exists():
            _run([go, "install", f"go.opentelemetry.io/collector/cmd/builder@v{VERSION}"], CACHE, env)
        (CACHE / "builder.yaml").write_text(MANIFEST)
        try:  # writes the sources and go.mod, then fails in its own `go mod tidy` (no -e): tidied below
            _run([str(builder), "--config", "builder.yaml", "--skip-compilation"], CACHE, env)
        except RuntimeError:
            if not (CACHE / "build" / "go.mod").exists():
                raise
        _run([go, "mod", "tidy", "-e"], CACHE / "build", env)
        partial = BINARY.with_suffix(".partial")
        _run([go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), "."], CACHE / "build", env)
        partial.rename(BINARY)


def _build_in_thread() -> None:
    try:
        _build()
    except Exception as exc:  # reported by collector(), in the test that needs it
        _error.append(str(exc))


def start_build() -> None:
    """Begin building the Collector in the background unless it is there (or being built)."""
    global _thread
    if _thread is None and not BINARY.exists():
        _thread = threading.Thread(target=_build_in_thread, name="otelcol-build", daemon=True)
        _thread.start()


def collector() -> Path:
    """The Collector binary, waiting for its build; skips the test (fails it under ``CI=true``) if it cannot be
    built here."""
    start_build()
    if _thread is not None:
        _thread.join(BUILD_TIMEOUT)
    if BINARY.exists():
        return BINARY
    reason = f"cannot build the OpenTelemetry Collector v{VERSION}: {'; '.join(_error) or 'build timed out'}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)
