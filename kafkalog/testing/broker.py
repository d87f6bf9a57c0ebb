"""A single-node Apache Kafka (KRaft) broker for tests, assembled from Maven Central jars.

The machines that run the suite have Java and Maven but no Docker and no access to the Apache download site,
so the broker's classpath is fetched with ``mvn`` (cached per version) and ``kafka.Kafka`` is started with
``java`` directly. The broker runs in combined broker+controller mode on loopback with a static quorum.

Run ``python -m kafkalog.testing.broker`` to keep one running for manual experiments.

kafka-python is imported inside the functions that need it, so importing this module stays cheap.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Final

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "BrokerStartError",
    "JarFetchError",
    "KafkaBrokerError",
    "LocalKafka",
    "MissingToolError",
    "create_topic",
    "fetch_kafka_jars",
    "main",
    "new_cluster_id",
]

log = logging.getLogger("kafkalog.testing")

DEFAULT_KAFKA_VERSION: Final = "4.1.1"
#: Kafka 4.x leaves its logging backend out of the published POMs; without one the broker logs nothing.
LOG4J_VERSION: Final = "2.24.3"
#: Pinned: Maven 3.8.7 would otherwise resolve an old dependency plugin.
DEPENDENCY_PLUGIN: Final = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
CACHE_ENV: Final = "KAFKALOG_KAFKA_CACHE"

#: Light JVM settings: the suite runs on 2-core machines next to the code under test.
BROKER_JVM_OPTIONS: Final = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)
_TOOL_JVM_OPTIONS: Final = (
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)

_MARKER: Final = "fetch-complete.json"
#: Jars whose absence means the fetch went wrong (checked after every fetch).
_REQUIRED_JAR_PREFIXES: Final = (
    "kafka-server-",
    "kafka-raft-",
    "kafka-metadata-",
    "kafka-storage-",
    "kafka-clients-",
    "scala-library-",
)
_VERSION_RE: Final = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-]*$")
_FETCH_TIMEOUT_S: Final = 900.0
_FORMAT_TIMEOUT_S: Final = 120.0
_PORT_RETRIES: Final = 3
_LOG_TAIL_LINES: Final = 40
_BIND_ERROR: Final = "Address already in use"

_POM_TEMPLATE: Final = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by kafkalog.testing: names the classpath of a Kafka broker; safe to delete. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kafkalog.testing</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""


class KafkaBrokerError(RuntimeError):
    """Fetching, starting or driving the local test broker failed."""


class MissingToolError(KafkaBrokerError):
    """A program the broker needs (``java`` or ``mvn``) is not installed; ``tool`` names it."""

    def __init__(self, tool: str, purpose: str) -> None:
        super().__init__(f"`{tool}` was not found on PATH; it is needed to {purpose}")
        self.tool = tool


class JarFetchError(KafkaBrokerError):
    """Maven could not fetch the broker's jars; the message ends with Maven's output."""


class BrokerStartError(KafkaBrokerError):
    """The broker did not become ready; the message ends with the tail of its logs."""


# ----------------------------------------------------------------------------------------------------
# jars


def _default_cache_root() -> Path:
    override = os.environ.get(CACHE_ENV)
    return Path(override).expanduser() if override else Path.home() / ".cache" / "kafkalog"


def _check_version(version: str) -> None:
    # The version ends up in a file name and in XML, so refuse anything unusual outright.
    if not _VERSION_RE.match(version):
        raise ValueError(f"not a Kafka version: {version!r}")


def _child_env() -> dict[str, str]:
    """Environment for java/mvn: a stray COLUMNS makes Kafka's tools fail to parse their arguments."""
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    return env


def _find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise MissingToolError("java", "run the local Kafka broker (Java 17+ for Kafka 4.x)")
    return found


def _find_mvn() -> str:
    found = shutil.which("mvn")
    if found is None:
        raise MissingToolError("mvn", "fetch the Kafka broker jars from Maven Central")
    return found


def _fetch_complete(home: Path, version: str) -> bool:
    """True if an earlier fetch finished: the marker is written last, so a half-done fetch is redone."""
    try:
        marker = json.loads((home / _MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict):
        return False
    if marker.get("kafka_version") != version or marker.get("log4j_version") != LOG4J_VERSION:
        return False
    jars = marker.get("jars")
    if not isinstance(jars, list) or not jars:
        return False
    lib = home / "lib"
    return all(isinstance(jar, str) and (lib / jar).is_file() for jar in jars)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise fetches of the same version across processes (e.g. parallel test workers)."""
    with path.open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _tail_text(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def fetch_kafka_jars(version: str = DEFAULT_KAFKA_VERSION, cache_dir: Path | None = None) -> Path:
    """Return a directory holding the broker's classpath for ``version``, fetching it with Maven if needed.

    ``cache_dir`` (default ``$KAFKALOG_KAFKA_CACHE`` or ``~/.cache/kafkalog``) holds one ``kafka-<version>``
    directory per version, so only the first run pays for the download. A complete cache is returned without
    running (or needing) Maven.
    """
    _check_version(version)
    home = (cache_dir if cache_dir is not None else _default_cache_root()) / f"kafka-{version}"
    lib = home / "lib"
    if _fetch_complete(home, version):
        return lib
    _find_java()  # Maven itself needs Java; name the real culprit.
    mvn = _find_mvn()
    home.mkdir(parents=True, exist_ok=True)
    with _file_lock(home / ".lock"):
        if _fetch_complete(home, version):  # another process fetched it while we waited
            return lib
        (home / _MARKER).unlink(missing_ok=True)
        shutil.rmtree(lib, ignore_errors=True)
        pom = home / "pom.xml"
        pom.write_text(_POM_TEMPLATE.format(kafka=version, log4j=LOG4J_VERSION), encoding="utf-8")
        cmd = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom),
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={lib}",
        ]
        log.info("fetching Kafka %s jars with Maven into %s", version, lib)
        started = time.monotonic()
        try:
            result = subprocess.run(
                cmd,
                cwd=home,
                env=_child_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                timeout=_FETCH_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.output if isinstance(exc.output, str) else ""
            raise JarFetchError(
                f"mvn did not finish fetching Kafka {version} within {_FETCH_TIMEOUT_S:.0f}s:\n{_tail_text(output)}"
            ) from None
        if result.returncode != 0:
            raise JarFetchError(
                f"mvn failed (exit {result.returncode}) fetching Kafka {version} jars; "
                f"command: {' '.join(cmd)}\n{_tail_text(result.stdout)}"
            )
        jars = sorted(p.name for p in lib.glob("*.jar")) if lib.is_dir() else []
        missing = [prefix for prefix in _REQUIRED_JAR_PREFIXES if not any(j.startswith(prefix) for j in jars)]
        if missing:
            raise JarFetchError(
                f"mvn succeeded but {lib} lacks {', '.join(p.rstrip('-') for p in missing)}; "
                f"is {version} a published kafka_2.13 version?\n{_tail_text(result.stdout)}"
            )
        marker = {"kafka_version": version, "log4j_version": LOG4J_VERSION, "jars": jars}
        tmp_marker = home / (_MARKER + ".tmp")
        tmp_marker.write_text(json.dumps(marker, indent=1), encoding="utf-8")
        tmp_marker.replace(home / _MARKER)
        log.info("fetched %d jars for Kafka %s in %.1fs", len(jars), version, time.monotonic() - started)
    return lib


# ----------------------------------------------------------------------------------------------------
# broker


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes as unpadded urlsafe base64, never starting with ``-``.

    (A leading ``-`` would be read as an option by the storage tool.)
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all bound at once so the kernel cannot hand out one twice)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _port_bindable(port: int) -> bool:
    """Whether a listener could bind the port now (SO_REUSEADDR, as the JVM does, so TIME_WAIT is fine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _escape_property(value: str) -> str:
    """Escape for java.util.Properties (used by both server.properties and log4j2.properties)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _write_properties(path: Path, props: Mapping[str, str], header: str) -> None:
    lines = [f"# {header}"]
    lines += [f"{key}={_escape_property(value)}" for key, value in props.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _read_properties(path: Path) -> dict[str, str]:
    """Just enough of java.util.Properties to read meta.properties (simple key=value lines)."""
    props: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line[0] in "#!" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        props[key.strip()] = value.strip()
    return props


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


def _admin_client(bootstrap: str, timeout_s: float) -> Any:
    from kafka import KafkaAdminClient

    timeout_ms = max(1000, int(timeout_s * 1000))
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="kafkalog-testing",
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=min(timeout_ms, 30000),
    )


def _probe_broker(bootstrap: str, timeout_s: float) -> str | None:
    """Ask the broker for cluster metadata; None if it is ready, else why not."""
    try:
        admin = _admin_client(bootstrap, timeout_s)
    except Exception as exc:  # any failure just means "not ready yet"
        return f"admin client could not bootstrap: {exc!r}"
    try:
        cluster = admin.describe_cluster()
    except Exception as exc:
        return f"describe_cluster failed: {exc!r}"
    finally:
        admin.close()
    brokers = cluster.get("brokers") or []
    if not any(not b.get("is_fenced", False) for b in brokers):
        return f"no unfenced broker in metadata yet: {brokers!r}"
    controller = cluster.get("controller_id")
    if controller is None or controller < 0:
        return "no active controller yet"
    return None


def _topic_not_ready(info: Mapping[str, Any] | None, partitions: int) -> str | None:
    if info is None:
        return "missing from metadata"
    if info.get("error_code", 0):
        return f"error code {info['error_code']}"
    parts = info.get("partitions") or []
    if len(parts) < partitions:
        return f"{len(parts)} of {partitions} partitions visible"
    for part in parts:
        if part.get("error_code", 0) or part.get("leader_id", part.get("leader", -1)) < 0:
            return f"partition {part.get('partition_index', part.get('partition'))} has no leader"
    return None


def create_topic(
    bootstrap: str,
    name: str,
    *,
    partitions: int = 1,
    replication: int = 1,
    config: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> None:
    """Create a topic and wait until its metadata shows a leader for every partition.

    Waiting matters: CreateTopics returns before the new partitions have leaders, and a producer that races
    ahead gets ``UNKNOWN_TOPIC_OR_PARTITION`` retries that slow tests down or make them flaky.
    Works against any broker (the suite's own or ``KAFKALOG_TEST_BOOTSTRAP``). An existing topic raises
    kafka-python's ``TopicAlreadyExistsError``.
    """
    deadline = time.monotonic() + timeout
    admin = _admin_client(bootstrap, timeout)
    try:
        admin.create_topics(
            {
                name: {
                    "num_partitions": partitions,
                    "replication_factor": replication,
                    "configs": dict(config or {}),
                }
            },
            timeout_ms=int(timeout * 1000),
        )
        reason: str | None = "not yet queried"
        while True:
            try:
                topics = admin.describe_topics([name])
                reason = _topic_not_ready(next((t for t in topics if t.get("name") == name), None), partitions)
            except Exception as exc:  # transient metadata errors: keep polling until the deadline
                reason = repr(exc)
            if reason is None:
                return
            if time.monotonic() >= deadline:
                raise KafkaBrokerError(f"topic {name!r} not ready after {timeout:.0f}s: {reason}")
            time.sleep(0.05)
    finally:
        admin.close()


class LocalKafka:
    """A single-node Kafka broker (KRaft, combined broker+controller) on loopback, for tests.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. Ports are chosen once and kept, so
    :meth:`kill` + :meth:`restart` brings the broker back at the same ``bootstrap`` address with the same
    data, and clients reconnect as they would to a real broker coming back. A default (temporary)
    ``workdir`` is deleted by :meth:`stop`; one passed in is kept, and reused (not reformatted) next time.
    The JVM is also killed at interpreter exit, and on Linux when this process dies.
    """

    def __init__(
        self,
        *,
        version: str = DEFAULT_KAFKA_VERSION,
        workdir: Path | None = None,
        port: int | None = None,
        properties: Mapping[str, str] | None = None,
        startup_timeout: float = 90.0,
    ) -> None:
        _check_version(version)
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port out of range: {port}")
        if startup_timeout <= 0:
            raise ValueError("startup_timeout must be positive")
        self._version = version
        self._owns_workdir = workdir is None
        self._workdir: Path | None = Path(workdir) if workdir is not None else None
        self._requested_port = port
        self._port: int | None = port
        self._controller_port: int | None = None
        self._ports_proven = False  # True once a broker ran on these ports: never re-pick them after that
        self._properties = {str(k): str(v) for k, v in (properties or {}).items()}
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offsets = (0, 0)
        self._cluster_id: str | None = None
        self._lock = threading.RLock()

    # -- properties ------------------------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:PORT``, for ``bootstrap_servers``."""
        return f"127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        """The PLAINTEXT listener port (known once started; kept across restarts)."""
        if self._port is None:
            raise KafkaBrokerError("LocalKafka has not been started: no port chosen yet")
        return self._port

    @property
    def controller_port(self) -> int:
        """The KRaft controller listener port."""
        if self._controller_port is None:
            raise KafkaBrokerError("LocalKafka has not been started: no port chosen yet")
        return self._controller_port

    @property
    def workdir(self) -> Path:
        """Directory holding server.properties, the logs (``broker.log``, ``process.log``) and ``data/``."""
        if self._workdir is None:
            raise KafkaBrokerError("LocalKafka has not been started: no workdir yet")
        return self._workdir

    @property
    def log_path(self) -> Path:
        """The broker's log4j output (WARN and above, plus the ``Kafka Server started`` line)."""
        return self.workdir / "broker.log"

    @property
    def pid(self) -> int | None:
        """The JVM's process id while it runs, else None."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the JVM is alive (not whether it is ready)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def cluster_id(self) -> str | None:
        """The KRaft cluster id of the data directory, once formatted."""
        return self._cluster_id

    @property
    def version(self) -> str:
        """The Kafka version whose jars this broker runs."""
        return self._version

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> LocalKafka:
        """Fetch jars if needed, format storage on first use, launch the JVM and wait until it is ready."""
        with self._lock:
            if self.running:
                raise KafkaBrokerError(f"broker already running (pid {self.pid}) at {self.bootstrap}")
            java = _find_java()
            lib = fetch_kafka_jars(self._version)
            if self._workdir is None:
                self._workdir = Path(tempfile.mkdtemp(prefix="kafkalog-kafka-"))
            self._workdir.mkdir(parents=True, exist_ok=True)
            _track(self)
            began = time.monotonic()
            deadline = began + self._startup_timeout
            attempt = 0
            while True:
                attempt += 1
                if self._port is None or self._controller_port is None:
                    self._choose_ports()
                self._await_free_ports(deadline)
                props_path = self._write_config()
                formatted_now = self._format_storage(java, lib, props_path)
                try:
                    self._launch(java, lib, props_path)
                    self._wait_ready(deadline)
                except _PortInUse as exc:
                    self.kill()  # it would linger ~10 s in its shutdown path otherwise
                    fixed = self._ports_proven or self._requested_port is not None
                    if fixed or attempt >= _PORT_RETRIES or time.monotonic() >= deadline:
                        raise BrokerStartError(str(exc)) from None
                    # Lost a race for ports we picked: pick new ones, on a clean slate.
                    log.info("picked ports were taken meanwhile, choosing new ones")
                    if formatted_now:
                        self._wipe_data()
                    self._port = self._controller_port = None
                    continue
                except BaseException:
                    self._terminate(timeout=5.0)
                    raise
                break
            self._ports_proven = True
            log.info(
                "Kafka %s ready at %s in %.1fs (workdir %s)",
                self._version,
                self.bootstrap,
                time.monotonic() - began,
                self._workdir,
            )
            return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout``) and delete a temporary workdir."""
        with self._lock:
            try:
                self._terminate(timeout)
            finally:
                if self._owns_workdir and self._workdir is not None:
                    shutil.rmtree(self._workdir, ignore_errors=True)
                    self._workdir = None
                    self._cluster_id = None
                _untrack(self)

    def kill(self) -> None:
        """SIGKILL the broker at once, as a crash would; workdir and ports are kept for :meth:`restart`."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.returncode is not None:
                return
            self._signal_group(proc, signal.SIGKILL)
            proc.wait()

    def restart(self, timeout: float = 10.0) -> LocalKafka:
        """Stop the broker if running (SIGTERM, ``timeout``), then start it on the same ports and data."""
        with self._lock:
            self._terminate(timeout)
            return self.start()

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication: int = 1,
        *,
        config: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Create ``name`` and wait until every partition has a leader (see :func:`create_topic`)."""
        create_topic(
            self.bootstrap,
            name,
            partitions=partitions,
            replication=replication,
            config=config,
            timeout=timeout,
        )

    def __enter__(self) -> LocalKafka:
        try:
            return self.start()
        except BaseException:
            self.stop(timeout=5.0)  # __exit__ will not run: clean up here
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running pid={self.pid}" if self.running else "stopped"
        where = f" at 127.0.0.1:{self._port}" if self._port is not None else ""
        return f"<LocalKafka {self._version}{where} {state}>"

    # -- internals -------------------------------------------------------------------------------------------

    def _choose_ports(self) -> None:
        if self._requested_port is not None:
            self._port = self._requested_port
            while True:
                (controller,) = _free_ports(1)
                if controller != self._port:
                    break
            self._controller_port = controller
        else:
            self._port, self._controller_port = _free_ports(2)

    def _await_free_ports(self, deadline: float) -> None:
        """Check the ports before launching: a JVM that fails to bind takes ~10 s to give up."""
        ports = (self.port, self.controller_port)
        busy = [p for p in ports if not _port_bindable(p)]
        if not busy:
            return
        if not self._ports_proven and self._requested_port is None:
            self._choose_ports()  # ours were just picked; someone else got one first
            return
        if self._ports_proven:
            # Restarting on our own ports: a JVM we killed may not have released them yet.
            until = min(deadline, time.monotonic() + 10.0)
            while busy and time.monotonic() < until:
                time.sleep(0.2)
                busy = [p for p in ports if not _port_bindable(p)]
            if not busy:
                return
        raise BrokerStartError(f"127.0.0.1 port {', '.join(map(str, busy))} is in use by another process")

    def _data_dirs(self, props: Mapping[str, str]) -> list[Path]:
        raw = props.get("log.dirs") or props.get("log.dir") or ""
        return [Path(part.strip()) for part in raw.split(",") if part.strip()]

    def _server_properties(self) -> dict[str, str]:
        workdir, port, cport = self.workdir, self.port, self.controller_port
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{cport}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": (
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL"
            ),
            "log.dirs": str(workdir / "data"),
            "auto.create.topics.enable": "true",
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "background.threads": "2",
            # After a kill the restarted broker's registration is refused until the old one's session expires
            # (default 9 s); a shorter session makes kill()+restart() about 6 s faster.
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "500",
            # The default reserves 128 MB of the 512 MB heap for the log cleaner.
            "log.cleaner.dedupe.buffer.size": "16777216",
        }
        props.update(self._properties)
        return props

    def _write_config(self) -> Path:
        workdir = self.workdir
        props_path = workdir / "server.properties"
        _write_properties(props_path, self._server_properties(), "written by kafkalog.testing.LocalKafka")
        log4j = {
            "status": "warn",
            # Our JVMs are killed and restarted on purpose; log4j's own hook only adds noise at shutdown.
            "shutdownHook": "disable",
            "appender.file.type": "File",
            "appender.file.name": "FILE",
            "appender.file.fileName": str(workdir / "broker.log"),
            "appender.file.append": "true",
            "appender.file.layout.type": "PatternLayout",
            "appender.file.layout.pattern": "[%d] %p %m (%c)%n",
            "rootLogger.level": "WARN",
            "rootLogger.appenderRef.file.ref": "FILE",
            # Keeps the "Kafka Server started" line (and shutdown lines) without the INFO flood.
            "logger.raftserver.name": "kafka.server.KafkaRaftServer",
            "logger.raftserver.level": "INFO",
        }
        _write_properties(workdir / "log4j2.properties", log4j, "written by kafkalog.testing.LocalKafka")
        return props_path

    def _format_storage(self, java: str, lib: Path, props_path: Path) -> bool:
        """Format the data dirs unless already formatted; True if this call formatted them."""
        dirs = self._data_dirs(self._server_properties())
        metas = [d / "meta.properties" for d in dirs]
        existing = [m for m in metas if m.is_file()]
        cluster_id = None
        if existing:
            cluster_id = _read_properties(existing[0]).get("cluster.id")
        if existing and len(existing) == len(metas) and cluster_id:
            self._cluster_id = cluster_id
            return False
        cluster_id = cluster_id or new_cluster_id()
        cmd = [
            java,
            *_TOOL_JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp",
            str(lib / "*"),
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(props_path),
            "--ignore-formatted",
        ]
        try:
            result = subprocess.run(
                cmd,
                cwd=self.workdir,
                env=_child_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                timeout=_FORMAT_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BrokerStartError(f"kafka.tools.StorageTool format hung for {_FORMAT_TIMEOUT_S:.0f}s") from None
        if result.returncode != 0:
            raise BrokerStartError(
                f"formatting Kafka storage failed (exit {result.returncode}):\n{_tail_text(result.stdout)}"
            )
        self._cluster_id = cluster_id
        return True

    def _wipe_data(self) -> None:
        for data_dir in self._data_dirs(self._server_properties()):
            shutil.rmtree(data_dir, ignore_errors=True)
        self._cluster_id = None

    def _launch(self, java: str, lib: Path, props_path: Path) -> None:
        workdir = self.workdir
        cmd = [
            java,
            *BROKER_JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={workdir / 'log4j2.properties'}",
            "-cp",
            str(lib / "*"),
            "kafka.Kafka",
            str(props_path),
        ]
        process_log = workdir / "process.log"
        self._log_offsets = (_file_size(workdir / "broker.log"), _file_size(process_log))
        with process_log.open("ab") as out:
            self._proc = subprocess.Popen(
                cmd,
                cwd=workdir,
                env=_child_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: signals reach the JVM only, and all of it
                # Only calls prctl (resolved in the parent) and getppid: safe after fork despite threads.
                preexec_fn=_parent_death_hook(),  # noqa: PLW1509
            )
        log.debug("launched Kafka broker pid %d: %s", self._proc.pid, " ".join(cmd))

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines of ``broker.log`` and ``process.log`` (JVM stdout/stderr), for failure messages."""
        return self._log_text((0, 0), lines)

    def _new_log_text(self) -> str:
        """Log output written since the latest launch."""
        return self._log_text(self._log_offsets, _LOG_TAIL_LINES)

    def _new_output(self) -> str:
        """Everything both logs received since the latest launch (small: the broker logs at WARN)."""
        if self._workdir is None:
            return ""
        names = ("broker.log", "process.log")
        return "".join(_read_from(self._workdir / n, o) for n, o in zip(names, self._log_offsets, strict=True))

    def _log_text(self, offsets: tuple[int, int], lines: int) -> str:
        if self._workdir is None:
            return "(no workdir)"
        parts = []
        for name, offset in zip(("broker.log", "process.log"), offsets, strict=True):
            text = _read_from(self._workdir / name, offset)
            if text.strip():
                parts.append(f"--- {self._workdir / name} (tail) ---\n{_tail_text(text, lines)}")
        return "\n".join(parts) or "(the broker wrote no log output)"

    def _wait_ready(self, deadline: float) -> None:
        proc = self._proc
        assert proc is not None
        reason = "listener not accepting connections yet"
        while True:
            code = proc.poll()
            bind_failed = _BIND_ERROR in self._new_output()
            if bind_failed:
                raise _PortInUse(
                    f"Kafka broker could not bind port {self.port} or {self.controller_port}:\n" + self._new_log_text()
                )
            if code is not None:
                raise BrokerStartError(f"Kafka broker exited with code {code} during startup:\n{self._new_log_text()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerStartError(
                    f"Kafka broker not ready after {self._startup_timeout:.0f}s ({reason}):\n" + self._new_log_text()
                )
            if _port_open(self.port):
                probe = _probe_broker(self.bootstrap, min(10.0, max(1.0, remaining)))
                if probe is None:
                    return
                reason = probe
            time.sleep(0.1)

    def _signal_group(self, proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        # Only while the leader is unreaped (alive or zombie) is its pid, hence the group id, still ours.
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)

    def _terminate(self, timeout: float) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        self._signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("Kafka broker pid %d ignored SIGTERM for %.0fs; killing it", proc.pid, timeout)
            self._signal_group(proc, signal.SIGKILL)
            proc.wait()


class _PortInUse(BrokerStartError):
    """Internal: the JVM exited because a port was taken (retried by :meth:`LocalKafka.start`)."""


# Brokers that hold a JVM or a temporary directory, cleaned up at interpreter exit.
_live: set[LocalKafka] = set()
_live_lock = threading.Lock()
_atexit_registered = False


def _track(broker: LocalKafka) -> None:
    global _atexit_registered
    with _live_lock:
        _live.add(broker)
        if not _atexit_registered:
            atexit.register(_stop_all)
            _atexit_registered = True


def _untrack(broker: LocalKafka) -> None:
    with _live_lock:
        _live.discard(broker)


def _stop_all() -> None:
    with _live_lock:
        brokers = list(_live)
    for broker in brokers:
        try:
            broker.stop(timeout=5.0)
        except Exception:  # never let cleanup at exit raise
            log.exception("could not stop %r at exit", broker)


# ----------------------------------------------------------------------------------------------------
# CLI


def _parse_property(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def main(argv: Sequence[str] | None = None) -> int:
    """Run a broker until SIGINT/SIGTERM; prints ``bootstrap=127.0.0.1:PORT`` once it is ready."""
    parser = argparse.ArgumentParser(
        prog="python -m kafkalog.testing.broker",
        description="Run a local single-node Apache Kafka broker (KRaft) from Maven Central jars.",
    )
    parser.add_argument("--version", default=DEFAULT_KAFKA_VERSION, help="Kafka version (default %(default)s)")
    parser.add_argument("--port", type=int, default=None, help="PLAINTEXT port (default: a free one)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep config, logs and data here")
    parser.add_argument(
        "--property",
        "-p",
        dest="properties",
        type=_parse_property,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra server.properties entry (repeatable)",
    )
    parser.add_argument("--startup-timeout", type=float, default=90.0, metavar="SECONDS")
    parser.add_argument("--fetch-only", action="store_true", help="download the jars into the cache and exit")
    args = parser.parse_args(argv)
    if args.fetch_only:
        try:
            print(f"kafka jars: {fetch_kafka_jars(args.version)}", flush=True)
        except KafkaBrokerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    # Our own progress at INFO; kafka-python's readiness probes are too chatty for that level.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO)

    try:
        broker = LocalKafka(
            version=args.version,
            port=args.port or None,  # --port 0: any free port
            workdir=args.workdir,
            properties=dict(args.properties),
            startup_timeout=args.startup_timeout,
        )
    except ValueError as exc:
        parser.error(str(exc))

    stop_requested = threading.Event()
    ready = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if not ready:
            raise KeyboardInterrupt  # abort startup; LocalKafka.__enter__ kills the JVM
        stop_requested.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with broker:
            ready = True
            print(f"bootstrap={broker.bootstrap}", flush=True)
            log.info("broker log: %s; stop with Ctrl-C", broker.log_path)
            while not stop_requested.wait(0.5):
                if not broker.running:
                    log.error("Kafka broker exited unexpectedly:\n%s", broker.log_tail())
                    return 1
            log.info("stopping")
        return 0
    except KeyboardInterrupt:
        return 130
    except KafkaBrokerError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    raise SystemExit(main())
