"""A single-node Apache Kafka (KRaft) broker for tests, assembled from Maven Central jars.

The machines that run the suite have Java and Maven but no Docker and no access to the Apache download site,
so the broker's classpath is fetched with ``mvn`` (cached per version, :mod:`._jars`) and ``kafka.Kafka`` is
started with ``java`` directly (:mod:`._process`). The broker runs in combined broker+controller mode on
loopback with a static quorum. ``LocalKafka(security=True)`` adds SASL and TLS listeners (:mod:`.security`);
:mod:`.cluster` runs three nodes.

Run ``python -m kafkalog.testing`` to keep one running for manual experiments (``--help``).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ._admin import create_topic, probe_broker
from ._errors import BrokerStartError, JarFetchError, KafkaBrokerError, MissingToolError, PortInUseError
from ._jars import DEFAULT_KAFKA_VERSION, check_version, fetch_kafka_jars
from ._process import (
    LOG_TAIL_LINES,
    JvmProcess,
    broker_jvm_options,
    busy_ports,
    find_java,
    free_ports,
    track,
    untrack,
    wait_ready,
)
from ._props import (
    broker_command,
    data_dirs,
    format_storage,
    formatted_cluster_id,
    new_cluster_id,
    server_properties,
    write_log4j,
    write_properties,
)
from ._workdir import LocalServers
from .security import PROTOCOLS, SECURE_PROTOCOLS, BrokerSecurity, SaslUser

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "BrokerStartError",
    "JarFetchError",
    "KafkaBrokerError",
    "LocalKafka",
    "MissingToolError",
    "create_topic",
    "fetch_kafka_jars",
    "new_cluster_id",
]

log = logging.getLogger("kafkalog.testing")

_PORT_RETRIES: Final = 3
_HEADER: Final = "written by kafkalog.testing.LocalKafka"


class LocalKafka(LocalServers):
    """A single-node Kafka broker (KRaft, combined broker+controller) on loopback, for tests.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. Ports are chosen once and kept, so
    :meth:`kill` + :meth:`restart` brings the broker back at the same ``bootstrap`` address with the same
    data, and clients reconnect as they would to a real broker coming back. A default (temporary)
    ``workdir`` is deleted by :meth:`stop`; one passed in is kept, and reused (not reformatted) next time.
    The JVM is also killed at interpreter exit, and on Linux when this process dies.

    With ``security=True`` the broker also listens with SASL_PLAINTEXT, SSL and SASL_SSL (SASL mechanisms
    PLAIN and SCRAM-SHA-256) on ports of their own: see :meth:`bootstrap_for`, :attr:`ca_file`,
    :attr:`users` and :meth:`client_config`. PLAINTEXT (``bootstrap``) stays open for test setup and reading.
    """

    def __init__(
        self,
        *,
        version: str = DEFAULT_KAFKA_VERSION,
        workdir: Path | None = None,
        port: int | None = None,
        properties: Mapping[str, str] | None = None,
        startup_timeout: float = 90.0,
        security: bool = False,
        max_heap_mb: int = 512,
    ) -> None:
        check_version(version)
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port out of range: {port}")
        if startup_timeout <= 0:
            raise ValueError("startup_timeout must be positive")
        if max_heap_mb < 128:
            raise ValueError("max_heap_mb must be at least 128")
        super().__init__(workdir)
        self._version = version
        self._requested_port = port
        self._listeners = ("PLAINTEXT", "CONTROLLER", *(SECURE_PROTOCOLS if security else ()))
        self._ports: dict[str, int] = {}
        self._ports_proven = False  # True once a broker ran on these ports: never re-pick them after that
        self._properties = {str(k): str(v) for k, v in (properties or {}).items()}
        self._startup_timeout = startup_timeout
        self._secure = security
        self._security: BrokerSecurity | None = None
        self._jvm_options = broker_jvm_options(max_heap_mb)
        self._jvm: JvmProcess | None = None
        self._lock = threading.RLock()

    # -- properties ------------------------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:PORT`` of the PLAINTEXT listener, for ``bootstrap_servers``."""
        return f"127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        """The PLAINTEXT listener port (known once started; kept across restarts)."""
        return self._port_of("PLAINTEXT")

    @property
    def controller_port(self) -> int:
        """The KRaft controller listener port."""
        return self._port_of("CONTROLLER")

    def bootstrap_for(self, protocol: str) -> str:
        """``127.0.0.1:PORT`` of the listener for ``protocol``: PLAINTEXT, or with ``security=True`` also
        SASL_PLAINTEXT, SSL or SASL_SSL."""
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
        if protocol not in self._listeners:
            raise KafkaBrokerError(f"no {protocol} listener: create LocalKafka(security=True) for one")
        return f"127.0.0.1:{self._port_of(protocol)}"

    @property
    def security(self) -> BrokerSecurity:
        """Keystore, CA file and users of a ``security=True`` broker (generated by :meth:`start`)."""
        if not self._secure:
            raise KafkaBrokerError("this LocalKafka was created without security=True")
        if self._security is None:
            raise KafkaBrokerError("LocalKafka has not been started: no keystore or users yet")
        return self._security

    @property
    def ca_file(self) -> Path:
        """PEM file clients trust to verify the broker's certificate (kafka-python ``ssl_cafile``)."""
        return self.security.ca_file

    @property
    def users(self) -> dict[str, SaslUser]:
        """SASL users by mechanism: ``{"PLAIN": SaslUser("alice", ...), "SCRAM-SHA-256": SaslUser("carol", ...)}``."""
        return self.security.users

    def client_config(self, protocol: str, mechanism: str | None = None) -> dict[str, Any]:
        """kafka-python options (``security_protocol``, ``sasl_*``, ``ssl_cafile``...) for ``protocol``."""
        if protocol == "PLAINTEXT":
            return {"security_protocol": "PLAINTEXT"}
        return self.security.client_config(protocol, mechanism)

    @property
    def log_path(self) -> Path:
        """The broker's log4j output (WARN and above, plus the ``Kafka Server started`` line)."""
        return self.workdir / "broker.log"

    @property
    def pid(self) -> int | None:
        """The JVM's process id while it runs, else None."""
        return self._jvm.pid if self._jvm is not None else None

    @property
    def running(self) -> bool:
        """Whether the JVM is alive (not whether it is ready)."""
        return self._jvm is not None and self._jvm.running

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
            java = find_java()
            lib = fetch_kafka_jars(self._version)
            workdir = self._make_workdir("kafkalog-kafka-")
            workdir.mkdir(parents=True, exist_ok=True)
            track(self)
            began = time.monotonic()
            deadline = began + self._startup_timeout
            if self._secure and self._security is None:
                self._security = BrokerSecurity.generate(workdir / "tls")
            attempt = 0
            while True:
                attempt += 1
                if not self._ports:
                    self._choose_ports()
                self._await_free_ports(deadline)
                props_path = self._write_config()
                formatted_now = self._format_storage(java, lib, props_path)
                jvm = self._jvm = JvmProcess(workdir)
                try:
                    jvm.launch(broker_command(java, lib, props_path, self._jvm_options))
                    wait_ready(
                        [jvm],
                        list(self._ports.values()),
                        lambda seconds: probe_broker(self.bootstrap, seconds),
                        deadline=deadline,
                        timeout=self._startup_timeout,
                        what="Kafka broker",
                    )
                    if self._security is not None:
                        sasl_ssl = self.bootstrap_for("SASL_SSL")
                        remaining = max(5.0, deadline - time.monotonic())
                        self._security.create_scram_users(self.bootstrap, sasl_ssl, remaining)
                except PortInUseError as exc:
                    jvm.kill()  # it would linger ~10 s in its shutdown path otherwise
                    fixed = self._ports_proven or self._requested_port is not None
                    if fixed or attempt >= _PORT_RETRIES or time.monotonic() >= deadline:
                        raise BrokerStartError(str(exc)) from None
                    # Lost a race for ports we picked: pick new ones, on a clean slate.
                    log.info("picked ports were taken meanwhile, choosing new ones")
                    if formatted_now:
                        self._wipe_data()
                    self._ports = {}
                    continue
                except BaseException:
                    jvm.terminate(timeout=5.0)
                    raise
                break
            self._ports_proven = True
            log.info("Kafka %s ready at %s in %.1fs (workdir %s)", self._version, self.bootstrap,
                     time.monotonic() - began, self._workdir)
            return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout``) and delete a temporary workdir."""
        with self._lock:
            try:
                if self._jvm is not None:
                    self._jvm.terminate(timeout)
            finally:
                if self._remove_own_workdir():
                    self._security = None
                untrack(self)

    def kill(self) -> None:
        """SIGKILL the broker at once, as a crash would; workdir and ports are kept for :meth:`restart`."""
        with self._lock:
            if self._jvm is not None:
                self._jvm.kill()

    def restart(self, timeout: float = 10.0) -> LocalKafka:
        """Stop the broker if running (SIGTERM, ``timeout``), then start it on the same ports and data."""
        with self._lock:
            if self._jvm is not None:
                self._jvm.terminate(timeout)
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
        create_topic(self.bootstrap, name, partitions=partitions, replication=replication, config=config,
                     timeout=timeout)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of ``broker.log`` and ``process.log`` (JVM stdout/stderr), for failure messages."""
        if self._workdir is None:
            return "(no workdir)"
        return (self._jvm or JvmProcess(self._workdir)).log_tail(lines)

    def __repr__(self) -> str:
        state = f"running pid={self.pid}" if self.running else "stopped"
        where = f" at 127.0.0.1:{self._ports['PLAINTEXT']}" if "PLAINTEXT" in self._ports else ""
        secure = " secure" if self._secure else ""
        return f"<LocalKafka {self._version}{secure}{where} {state}>"

    # -- internals -------------------------------------------------------------------------------------------

    def _port_of(self, listener: str) -> int:
        port = self._ports.get(listener)
        if port is None:
            raise KafkaBrokerError("LocalKafka has not been started: no port chosen yet")
        return port

    def _choose_ports(self) -> None:
        names = list(self._listeners)
        if self._requested_port is not None:
            names.remove("PLAINTEXT")
            self._ports = {"PLAINTEXT": self._requested_port}
            self._ports.update(zip(names, free_ports(len(names), avoid={self._requested_port}), strict=True))
        else:
            self._ports = dict(zip(names, free_ports(len(names)), strict=True))

    def _await_free_ports(self, deadline: float) -> None:
        """Check the ports before launching: a JVM that fails to bind takes ~10 s to give up."""
        # Restarting on our own ports: a JVM we killed may not have released them yet.
        wait_until = min(deadline, time.monotonic() + 10.0) if self._ports_proven else None
        busy = busy_ports(self._ports.values(), wait_until=wait_until)
        if not busy:
            return
        if not self._ports_proven and self._requested_port is None:
            self._choose_ports()  # ours were just picked; someone else got one first
            return
        raise BrokerStartError(f"127.0.0.1 port {', '.join(map(str, busy))} is in use by another process")

    def _server_properties(self) -> dict[str, str]:
        props = server_properties(
            node_id=1,
            listeners=self._ports,
            voters={1: self.controller_port},
            data_dir=self.workdir / "data",
        )
        if self._security is not None:
            props.update(self._security.server_properties())
        props.update(self._properties)
        return props

    def _write_config(self) -> Path:
        props_path = self.workdir / "server.properties"
        write_properties(props_path, self._server_properties(), _HEADER)
        write_log4j(self.workdir, _HEADER)
        return props_path

    def _format_storage(self, java: str, lib: Path, props_path: Path) -> bool:
        """Format the data dirs unless already formatted; True if this call formatted them."""
        cluster_id, complete = formatted_cluster_id(data_dirs(self._server_properties()))
        if complete and cluster_id:
            self._cluster_id = cluster_id
            return False
        cluster_id = cluster_id or new_cluster_id()
        format_storage(java, lib, props_path, cluster_id)
        self._cluster_id = cluster_id
        return True

    def _wipe_data(self) -> None:
        for data_dir in data_dirs(self._server_properties()):
            shutil.rmtree(data_dir, ignore_errors=True)
        self._cluster_id = None


if __name__ == "__main__":  # ``python -m kafkalog.testing.broker``: the same as ``python -m kafkalog.testing``
    import runpy

    runpy.run_module("kafkalog.testing", run_name="__main__", alter_sys=True)
