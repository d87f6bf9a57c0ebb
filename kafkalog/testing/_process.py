"""Kafka JVMs as child processes: finding java, free loopback ports, launching, readiness, signals, cleanup.

Nothing here knows about listeners or topics; :mod:`.broker` and :mod:`.cluster` build on it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Final, Protocol

from ._errors import BrokerStartError, MissingToolError, PortInUseError

log = logging.getLogger("kafkalog.testing")

#: Light JVM settings: the suite runs on 2-core machines next to the code under test.
BROKER_JVM_OPTIONS: Final = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)
TOOL_JVM_OPTIONS: Final = (
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)
LOG_TAIL_LINES: Final = 40
LOG_FILES: Final = ("broker.log", "process.log")
_BIND_ERROR: Final = "Address already in use"


def broker_jvm_options(max_heap_mb: int) -> tuple[str, ...]:
    """:data:`BROKER_JVM_OPTIONS` with another heap ceiling (e.g. 384 for each node of a 3-node cluster)."""
    initial = min(256, max_heap_mb // 2)
    return (f"-Xms{initial}m", f"-Xmx{max_heap_mb}m", *BROKER_JVM_OPTIONS[2:])


def child_env() -> dict[str, str]:
    """Environment for java/mvn: a stray COLUMNS makes Kafka's tools fail to parse their arguments."""
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    return env


def tail_text(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise MissingToolError("java", "run the local Kafka broker (Java 17+ for Kafka 4.x)")
    return found


def find_jdk_tool(name: str, purpose: str) -> str:
    """A JDK program such as ``keytool``: next to the ``java`` in use, else on PATH."""
    beside = Path(find_java()).resolve().parent / name
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise MissingToolError(name, purpose)
    return found


def run_captured(cmd: Sequence[str], *, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a short-lived program (mvn, StorageTool, keytool) to its end: no stdin, stdout and stderr together as
    text in ``stdout``; ``subprocess.TimeoutExpired`` after ``timeout``."""
    return subprocess.run(
        list(cmd),
        cwd=cwd,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )


def run_tool(cmd: Sequence[str], *, cwd: Path, timeout: float, what: str) -> str:
    """Run a short-lived helper (StorageTool, keytool); its output, or BrokerStartError with the output's tail."""
    try:
        result = run_captured(cmd, cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BrokerStartError(f"{what} hung for {timeout:.0f}s") from None
    if result.returncode != 0:
        raise BrokerStartError(f"{what} failed (exit {result.returncode}):\n{tail_text(result.stdout)}")
    return result.stdout


# ----------------------------------------------------------------------------------------------------
# ports


def free_ports(count: int, avoid: Iterable[int] = ()) -> list[int]:
    """Distinct free loopback ports (all bound at once so the kernel cannot hand out one twice)."""
    avoided = set(avoid)
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        while len(ports) < count:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            if port not in avoided:
                ports.append(port)
        return ports


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def port_bindable(port: int) -> bool:
    """Whether a listener could bind the port now (SO_REUSEADDR, as the JVM does, so TIME_WAIT is fine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def busy_ports(ports: Iterable[int], *, wait_until: float | None = None) -> list[int]:
    """The ports that cannot be bound now, waiting until ``wait_until`` for a killed JVM to release them."""
    busy = [p for p in ports if not port_bindable(p)]
    while busy and wait_until is not None and time.monotonic() < wait_until:
        time.sleep(0.2)
        busy = [p for p in busy if not port_bindable(p)]
    return busy


# ----------------------------------------------------------------------------------------------------
# one JVM


def _parent_death_hook() -> Callable[[], None] | None:
    """A preexec hook asking Linux to SIGKILL the broker when this process dies.

    atexit does not run when Python is killed by a signal, and the broker lives in its own session, so without
    this a killed test run would leave a JVM behind. The kernel ties the signal to the *thread* that forks,
    so it is only armed from the main thread (a worker thread exiting must not take the broker with it).
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    sigkill = int(signal.SIGKILL)
    parent = os.getpid()

    def hook() -> None:
        prctl(pr_set_pdeathsig, sigkill)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class JvmProcess:
    """One broker JVM writing ``broker.log`` (log4j) and ``process.log`` (stdout/stderr) into ``workdir``."""

    def __init__(self, workdir: Path, label: str = "Kafka broker") -> None:
        self.workdir = workdir
        self.label = label
        self._proc: subprocess.Popen[bytes] | None = None
        self._offsets: tuple[int, ...] = tuple(0 for _ in LOG_FILES)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    def exit_code(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def launch(self, cmd: Sequence[str]) -> None:
        process_log = self.workdir / "process.log"
        self._offsets = tuple(_file_size(self.workdir / name) for name in LOG_FILES)
        with process_log.open("ab") as out:
            self._proc = subprocess.Popen(
                list(cmd),
                cwd=self.workdir,
                env=child_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: signals reach the JVM only, and all of it
                # Only calls prctl (resolved in the parent) and getppid: safe after fork despite threads.
                preexec_fn=_parent_death_hook(),  # noqa: PLW1509
            )
        log.debug("launched %s pid %d: %s", self.label, self._proc.pid, " ".join(cmd))

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of both logs, for failure messages."""
        return self._log_text(tuple(0 for _ in LOG_FILES), lines)

    def new_log_text(self) -> str:
        """Log output written since the latest launch (tail)."""
        return self._log_text(self._offsets, LOG_TAIL_LINES)

    def bind_failed(self) -> bool:
        """Whether the latest launch reported a port already in use (the logs are small: WARN and up)."""
        new = "".join(_read_from(self.workdir / n, o) for n, o in zip(LOG_FILES, self._offsets, strict=True))
        return _BIND_ERROR in new

    def _log_text(self, offsets: tuple[int, ...], lines: int) -> str:
        parts = []
        for name, offset in zip(LOG_FILES, offsets, strict=True):
            text = _read_from(self.workdir / name, offset)
            if text.strip():
                parts.append(f"--- {self.workdir / name} (tail) ---\n{tail_text(text, lines)}")
        return "\n".join(parts) or f"(the {self.label} wrote no log output)"

    def check_started(self) -> None:
        """Raise if the latest launch already failed: PortInUseError for a bind failure, else BrokerStartError."""
        if self.bind_failed():
            raise PortInUseError(f"{self.label} could not bind one of its ports:\n{self.new_log_text()}")
        code = self.exit_code()
        if code is not None:
            raise BrokerStartError(f"{self.label} exited with code {code} during startup:\n{self.new_log_text()}")

    def _signal_group(self, sig: signal.Signals) -> None:
        proc = self._proc
        # Only while the leader is unreaped (alive or zombie) is its pid, hence the group id, still ours.
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)

    def terminate(self, timeout: float) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        self.send_sigterm()
        self.wait_or_kill(time.monotonic() + timeout)

    def send_sigterm(self) -> None:
        """Ask the JVM to shut down without waiting (see :meth:`wait_or_kill`)."""
        if self._proc is not None and self._proc.poll() is None:
            self._signal_group(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        """Wait until ``deadline`` (monotonic) for the JVM to exit, then SIGKILL it."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s pid %d ignored SIGTERM; killing it", self.label, proc.pid)
            self._signal_group(signal.SIGKILL)
            proc.wait()

    def kill(self) -> None:
        """SIGKILL at once, as a crash would."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        self._signal_group(signal.SIGKILL)
        proc.wait()


def wait_ready(
    procs: Sequence[JvmProcess],
    ports: Sequence[int],
    probe: Callable[[float], str | None],
    *,
    deadline: float,
    timeout: float,
    what: str,
) -> None:
    """Poll until every port accepts connections and ``probe(seconds)`` returns None (not-ready reasons otherwise)."""
    reason = "listeners not accepting connections yet"
    while True:
        for proc in procs:
            proc.check_started()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            logs = "\n".join(proc.new_log_text() for proc in procs)
            raise BrokerStartError(f"{what} not ready after {timeout:.0f}s ({reason}):\n{logs}")
        closed = [p for p in ports if not port_open(p)]
        if closed:
            reason = f"port {', '.join(map(str, closed))} not accepting connections yet"
        else:
            found = probe(min(10.0, max(1.0, remaining)))
            if found is None:
                return
            reason = found
        time.sleep(0.1)


# ----------------------------------------------------------------------------------------------------
# cleanup at exit


class Stoppable(Protocol):
    def stop(self, timeout: float = ...) -> None: ...


_live: set[Stoppable] = set()
_live_lock = threading.Lock()
_atexit_registered = False


def track(owner: Stoppable) -> None:
    """Stop ``owner`` at interpreter exit unless :func:`untrack` is called first."""
    global _atexit_registered
    with _live_lock:
        _live.add(owner)
        if not _atexit_registered:
            atexit.register(_stop_all)
            _atexit_registered = True


def untrack(owner: Stoppable) -> None:
    with _live_lock:
        _live.discard(owner)


def _stop_all() -> None:
    with _live_lock:
        owners = list(_live)
    for owner in owners:
        try:
            owner.stop(timeout=5.0)
        except Exception:  # never let cleanup at exit raise
            log.exception("could not stop %r at exit", owner)
