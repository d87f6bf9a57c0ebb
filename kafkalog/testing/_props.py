"""Files a Kafka node reads: ``server.properties``, ``log4j2.properties``, formatted storage."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from ._process import TOOL_JVM_OPTIONS, run_tool

_FORMAT_TIMEOUT_S: Final = 120.0

#: Listener names equal their security protocols, so one map serves every node.
PROTOCOL_MAP: Final = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL"


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes as unpadded urlsafe base64, never starting with ``-``.

    (A leading ``-`` would be read as an option by the storage tool.)
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _escape_property(value: str) -> str:
    """Escape for java.util.Properties (used by both server.properties and log4j2.properties)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def write_properties(path: Path, props: Mapping[str, str], header: str) -> None:
    lines = [f"# {header}"]
    lines += [f"{key}={_escape_property(value)}" for key, value in props.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_properties(path: Path) -> dict[str, str]:
    """Just enough of java.util.Properties to read meta.properties (simple key=value lines)."""
    props: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line[0] in "#!" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        props[key.strip()] = value.strip()
    return props


def server_properties(
    *,
    node_id: int,
    listeners: Mapping[str, int],
    voters: Mapping[int, int],
    data_dir: Path,
    replication: int = 1,
) -> dict[str, str]:
    """A KRaft combined broker+controller node on loopback.

    ``listeners`` maps listener names (``CONTROLLER``, ``PLAINTEXT``, ...) to ports; ``voters`` maps node ids
    to controller ports (a static quorum). Brokers and controllers talk to each other over PLAINTEXT only.
    Internal topics get ``replication`` replicas and a min ISR of 2 when there are at least 2.
    """
    advertised = {name: port for name, port in listeners.items() if name != "CONTROLLER"}
    min_isr = str(min(2, replication))
    rf = str(replication)
    return {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": ",".join(f"{n}@127.0.0.1:{p}" for n, p in sorted(voters.items())),
        "listeners": ",".join(f"{name}://127.0.0.1:{port}" for name, port in listeners.items()),
        "advertised.listeners": ",".join(f"{name}://127.0.0.1:{port}" for name, port in advertised.items()),
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": PROTOCOL_MAP,
        "log.dirs": str(data_dir),
        "auto.create.topics.enable": "true",
        "num.partitions": "1",
        "default.replication.factor": rf,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": rf,
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
        "background.threads": "2",
        # After a kill the restarted broker's registration is refused until the old one's session expires
        # (default 9 s), and a dead leader keeps its partitions that long; 3 s makes both about 6 s faster.
        "broker.session.timeout.ms": "3000",
        "broker.heartbeat.interval.ms": "500",
        # The default reserves 128 MB of the heap for the log cleaner.
        "log.cleaner.dedupe.buffer.size": "16777216",
    }


def write_log4j(workdir: Path, header: str) -> Path:
    """``log4j2.properties`` sending WARN and up (plus the startup line) to ``workdir/broker.log``."""
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
    path = workdir / "log4j2.properties"
    write_properties(path, log4j, header)
    return path


def data_dirs(props: Mapping[str, str]) -> list[Path]:
    raw = props.get("log.dirs") or props.get("log.dir") or ""
    return [Path(part.strip()) for part in raw.split(",") if part.strip()]


def formatted_cluster_id(dirs: Sequence[Path]) -> tuple[str | None, bool]:
    """The cluster id found in the data dirs' ``meta.properties``, and whether every dir is formatted."""
    metas = [d / "meta.properties" for d in dirs]
    existing = [m for m in metas if m.is_file()]
    cluster_id = read_properties(existing[0]).get("cluster.id") if existing else None
    return cluster_id, bool(cluster_id) and len(existing) == len(metas)


def format_storage(
    java: str,
    lib: Path,
    props_path: Path,
    cluster_id: str,
    extra_args: Sequence[str] = (),
) -> None:
    """``kafka.tools.StorageTool format`` (idempotent: already formatted dirs are left alone)."""
    workdir = props_path.parent
    cmd = [
        java,
        *TOOL_JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={workdir / 'log4j2.properties'}",
        "-cp",
        str(lib / "*"),
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(props_path),
        "--ignore-formatted",
        *extra_args,
    ]
    run_tool(cmd, cwd=workdir, timeout=_FORMAT_TIMEOUT_S, what="formatting Kafka storage")


def broker_command(java: str, lib: Path, props_path: Path, jvm_options: Sequence[str]) -> list[str]:
    """The command line of a broker JVM reading ``props_path`` (log4j config from the same directory)."""
    return [
        java,
        *jvm_options,
        f"-Dlog4j2.configurationFile={props_path.parent / 'log4j2.properties'}",
        "-cp",
        str(lib / "*"),
        "kafka.Kafka",
        str(props_path),
    ]
