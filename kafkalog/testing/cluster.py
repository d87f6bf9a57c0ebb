"""Three (or more) KRaft combined broker+controller nodes on loopback, for replication and failover tests.

Every node is a voter of a static controller quorum, so the cluster keeps working (brokers and controller)
while a majority of nodes runs. Topics default to replication 3 with ``min.insync.replicas=2``, so one node
can be killed without losing acknowledged (``acks=all``) writes.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from ._admin import create_topic, describe_partition, probe_broker
from ._errors import BrokerStartError, KafkaBrokerError, PortInUseError
from ._jars import DEFAULT_KAFKA_VERSION, check_version, fetch_kafka_jars
from ._process import (
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
    format_storage,
    formatted_cluster_id,
    new_cluster_id,
    server_properties,
    write_log4j,
    write_properties,
)
from ._workdir import LocalServers

__all__ = ["LocalKafkaCluster"]

log = logging.getLogger("kafkalog.testing")

_HEADER: Final = "written by kafkalog.testing.LocalKafkaCluster"
_PORT_RETRIES: Final = 3


class LocalKafkaCluster(LocalServers):
    """``nodes`` Kafka nodes (ids 1..nodes), each broker and controller, on loopback ports of their own.

    :meth:`start` launches them together and returns once an admin client sees every broker unfenced.
    :meth:`kill` and :meth:`restart` act on one node (same ports, same data). Each JVM gets a small heap
    (``max_heap_mb``, default 384) and the serial GC: three of them share a 2-core machine with the tests.
    A default (temporary) ``workdir`` is deleted by :meth:`stop`.
    """

    def __init__(
        self,
        nodes: int = 3,
        *,
        version: str = DEFAULT_KAFKA_VERSION,
        workdir: Path | None = None,
        properties: Mapping[str, str] | None = None,
        startup_timeout: float = 120.0,
        max_heap_mb: int = 384,
    ) -> None:
        check_version(version)
        if nodes < 1:
            raise ValueError("nodes must be at least 1")
        if startup_timeout <= 0:
            raise ValueError("startup_timeout must be positive")
        super().__init__(workdir)
        self._version = version
        self._node_ids = tuple(range(1, nodes + 1))
        self._properties = {str(k): str(v) for k, v in (properties or {}).items()}
        self._startup_timeout = startup_timeout
        self._jvm_options = broker_jvm_options(max_heap_mb)
        self._ports: dict[int, dict[str, int]] = {}  # node id -> listener -> port
        self._jvms: dict[int, JvmProcess] = {}
        self._java: str | None = None
        self._lib: Path | None = None
        self._lock = threading.RLock()

    # -- properties ------------------------------------------------------------------------------------------

    @property
    def node_ids(self) -> tuple[int, ...]:
        return self._node_ids

    @property
    def replication(self) -> int:
        """Replicas of internal topics and the default for :meth:`create_topic`: 3, or fewer nodes if fewer."""
        return min(3, len(self._node_ids))

    @property
    def bootstrap(self) -> str:
        """Every node's PLAINTEXT address, comma-separated (clients find the live ones)."""
        return ",".join(self.bootstrap_of(n) for n in self._node_ids)

    @property
    def live_bootstrap(self) -> str:
        """The addresses of the nodes whose JVM runs now (for admin calls while a node is down)."""
        live = [self.bootstrap_of(n) for n in self._node_ids if self.running(n)]
        if not live:
            raise KafkaBrokerError("no node of the cluster is running")
        return ",".join(live)

    def bootstrap_of(self, node_id: int) -> str:
        return f"127.0.0.1:{self._port(node_id, 'PLAINTEXT')}"

    def running(self, node_id: int) -> bool:
        jvm = self._jvms.get(self._check_node(node_id))
        return jvm is not None and jvm.running

    def pid(self, node_id: int) -> int | None:
        jvm = self._jvms.get(self._check_node(node_id))
        return jvm.pid if jvm is not None else None

    def node_dir(self, node_id: int) -> Path:
        """Node ``node_id``'s config, logs (``broker.log``, ``process.log``) and ``data/``."""
        return self.workdir / f"node-{self._check_node(node_id)}"

    @property
    def cluster_id(self) -> str | None:
        return self._cluster_id

    def log_tail(self, node_id: int, lines: int = 40) -> str:
        return JvmProcess(self.node_dir(node_id), f"Kafka node {node_id}").log_tail(lines)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> LocalKafkaCluster:
        """Format every node (same cluster id), launch them together and wait until all brokers are unfenced."""
        with self._lock:
            if any(self.running(n) for n in self._node_ids):
                raise KafkaBrokerError("cluster already running; use restart(node_id) for one node")
            self._java = find_java()
            self._lib = fetch_kafka_jars(self._version)
            self._make_workdir("kafkalog-cluster-")
            track(self)
            began = time.monotonic()
            deadline = began + self._startup_timeout
            for attempt in range(1, _PORT_RETRIES + 1):
                if not self._ports or busy_ports(p for ports in self._ports.values() for p in ports.values()):
                    self._choose_ports()
                self._write_configs()
                try:
                    for node_id in self._node_ids:
                        self._launch(node_id)
                    self._wait_ready(list(self._node_ids), deadline)
                except PortInUseError as exc:
                    for jvm in self._jvms.values():
                        jvm.kill()
                    if attempt == _PORT_RETRIES or time.monotonic() >= deadline:
                        raise BrokerStartError(str(exc)) from None
                    log.info("picked ports were taken meanwhile, choosing new ones")
                    self._wipe_data()
                    self._ports = {}
                    continue
                except BaseException:
                    self._terminate_all(5.0)
                    raise
                break
            log.info("Kafka cluster of %d ready at %s in %.1fs", len(self._node_ids), self.bootstrap,
                     time.monotonic() - began)
            return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every node and delete a temporary workdir.

        Nodes whose data is kept (a ``workdir`` was passed) get SIGTERM all at once, then SIGKILL after
        ``timeout``; with a temporary workdir the data is thrown away, so they are killed at once (saves ~5 s).
        """
        with self._lock:
            try:
                self._terminate_all(0.0 if self._owns_workdir else timeout)
            finally:
                self._remove_own_workdir()
                untrack(self)

    def kill(self, node_id: int) -> None:
        """SIGKILL node ``node_id`` at once, as a crash would (its ports and data are kept for :meth:`restart`)."""
        with self._lock:
            jvm = self._jvms.get(self._check_node(node_id))
            if jvm is not None:
                jvm.kill()

    def restart(self, node_id: int, timeout: float = 10.0) -> None:
        """Stop node ``node_id`` if running (SIGTERM, ``timeout``), start it again and wait until it is unfenced."""
        with self._lock:
            jvm = self._jvms.get(self._check_node(node_id))
            if jvm is not None:
                jvm.terminate(timeout)
            deadline = time.monotonic() + self._startup_timeout
            busy = busy_ports(self._ports[node_id].values(), wait_until=min(deadline, time.monotonic() + 10.0))
            if busy:
                raise BrokerStartError(f"node {node_id}: port {', '.join(map(str, busy))} is still in use")
            try:
                self._launch(node_id)
                self._wait_ready([node_id], deadline)
            except BaseException:
                self._jvms[node_id].terminate(5.0)
                raise

    def leader_of(self, topic: str, partition: int = 0) -> int:
        """The node id leading ``topic``/``partition`` according to current metadata (-1 while it has none)."""
        return int(describe_partition(self.live_bootstrap, topic, partition)["leader"])

    def partition_info(self, topic: str, partition: int = 0) -> dict[str, Any]:
        """``{"leader", "replicas", "isr", "leader_epoch"}`` of one partition (see :func:`describe_partition`)."""
        return describe_partition(self.live_bootstrap, topic, partition)

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication: int | None = None,
        config: Mapping[str, str] | None = None,
        *,
        timeout: float = 30.0,
    ) -> None:
        """Create ``name`` (default replication 3, ``min.insync.replicas=2``) and wait for leaders and a full ISR."""
        replication = self.replication if replication is None else replication
        if config is None:
            config = {"min.insync.replicas": str(min(2, replication))}
        create_topic(self.live_bootstrap, name, partitions=partitions, replication=replication, config=config,
                     timeout=timeout)

    def __repr__(self) -> str:
        live = [n for n in self._node_ids if self.running(n)]
        return f"<LocalKafkaCluster {self._version} nodes={len(self._node_ids)} running={live}>"

    # -- internals -------------------------------------------------------------------------------------------

    def _check_node(self, node_id: int) -> int:
        if node_id not in self._node_ids:
            raise ValueError(f"no node {node_id!r}; the nodes are {list(self._node_ids)}")
        return node_id

    def _port(self, node_id: int, listener: str) -> int:
        ports = self._ports.get(self._check_node(node_id))
        if ports is None:
            raise KafkaBrokerError("LocalKafkaCluster has not been started: no ports chosen yet")
        return ports[listener]

    def _choose_ports(self) -> None:
        ports = free_ports(2 * len(self._node_ids))
        self._ports = {
            node_id: {"PLAINTEXT": ports[2 * i], "CONTROLLER": ports[2 * i + 1]}
            for i, node_id in enumerate(self._node_ids)
        }

    def _props_path(self, node_id: int) -> Path:
        return self.node_dir(node_id) / "server.properties"

    def _write_configs(self) -> None:
        """Write every node's config and format its storage (in parallel) on first use."""
        voters = {node_id: ports["CONTROLLER"] for node_id, ports in self._ports.items()}
        if self._cluster_id is None:  # a kept workdir formatted by an earlier run keeps its id
            found = [formatted_cluster_id([self.node_dir(n) / "data"])[0] for n in self._node_ids]
            self._cluster_id = next((c for c in found if c), None) or new_cluster_id()
        for node_id in self._node_ids:
            node_dir = self.node_dir(node_id)
            node_dir.mkdir(parents=True, exist_ok=True)
            props = server_properties(
                node_id=node_id,
                listeners=self._ports[node_id],
                voters=voters,
                data_dir=node_dir / "data",
                replication=self.replication,
            )
            props.update(self._properties)
            write_properties(self._props_path(node_id), props, _HEADER)
            write_log4j(node_dir, _HEADER)
        assert self._java is not None and self._lib is not None
        java, lib, cluster_id = self._java, self._lib, self._cluster_id
        with ThreadPoolExecutor(max_workers=len(self._node_ids)) as pool:
            # --ignore-formatted: a node formatted earlier (kept workdir) is left alone.
            futures = [pool.submit(format_storage, java, lib, self._props_path(n), cluster_id) for n in self._node_ids]
            for future in futures:
                future.result()

    def _wipe_data(self) -> None:
        for node_id in self._node_ids:
            shutil.rmtree(self.node_dir(node_id) / "data", ignore_errors=True)
        self._cluster_id = None

    def _launch(self, node_id: int) -> None:
        assert self._java is not None and self._lib is not None
        jvm = JvmProcess(self.node_dir(node_id), f"Kafka node {node_id}")
        self._jvms[node_id] = jvm
        jvm.launch(broker_command(self._java, self._lib, self._props_path(node_id), self._jvm_options))

    def _wait_ready(self, node_ids: list[int], deadline: float) -> None:
        """Until the given nodes listen and metadata (asked through the first of them) shows every broker."""
        via = self.bootstrap_of(node_ids[0])
        wait_ready(
            [self._jvms[n] for n in node_ids],
            [port for n in node_ids for port in self._ports[n].values()],
            lambda seconds: probe_broker(via, seconds, brokers=len(self._node_ids)),
            deadline=deadline,
            timeout=self._startup_timeout,
            what=f"Kafka node(s) {node_ids}",
        )

    def _terminate_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        jvms = list(self._jvms.values())
        for jvm in jvms:
            if timeout > 0:
                jvm.send_sigterm()
            else:
                jvm.kill()
        for jvm in jvms:
            jvm.wait_or_kill(deadline)
