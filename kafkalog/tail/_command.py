"""From the command's choices to a ready agent: inputs, the config file and source, the shipper's options, the
transport, the spool. ``kafkalog tail`` only parses arguments into a :class:`TailRequest` and prints; this module
decides. Errors are :class:`~kafkalog.errors.ConfigError` naming the flag or key as the user wrote it."""

from __future__ import annotations

import glob
import importlib.util
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import KafkaLogConfig
from ..errors import ConfigError
from ._agent import TailAgent
from ._config import TailInput, TailSettings, load_settings, make_input
from ._run import shipper_config

if TYPE_CHECKING:
    from ._etcd import EtcdSource
    from ._kafka_source import KafkaTopicSource

# how the command line spells an input's keys (for messages about them)
_FLAGS = {"paths": "PATH_OR_GLOB", "static_fields": "--static-field"}
_SPOOL_OPTIONS = ("spool_max_bytes", "spool_segment_bytes", "spool_fsync")


def input_flag(key: str) -> str:
    return _FLAGS.get(key, "--" + key.replace("_", "-"))


@dataclass(frozen=True)
class TailRequest:
    """What the command line asked for, in its own terms (``static_fields`` as ``KEY=VALUE`` items;
    ``client_options`` the security flags as KafkaLogConfig options; ``transport`` may be ``auto``)."""

    bootstrap_servers: str
    topic: str
    state_dir: str
    paths: Sequence[str] = ()
    config: str | None = None
    config_source: str | None = None
    format: str = "text"
    multiline_start: str | None = None
    multiline_timeout: float = 2.0
    start_at: str = "beginning"
    static_fields: Sequence[str] = ()
    close_timeout: float = 10.0
    rotate_wait: float = 5.0
    partial_timeout: float = 5.0
    scan_interval: float = 1.0
    max_open: int = 256
    spool: bool = False
    spool_max_bytes: int | None = None
    fsync: bool = False
    transport: str = "auto"
    redact: Sequence[str] = ()
    client_options: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class PreparedTail:
    """An agent ready to run, and what the command says about it."""

    agent: TailAgent
    config: KafkaLogConfig
    inputs: int
    source: EtcdSource | KafkaTopicSource | None = None
    warnings: tuple[str, ...] = ()

    def stop_source(self) -> None:
        if self.source is not None:
            self.source.stop()


def _pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"--static-field: expected KEY=VALUE, got {item!r}")
    return key, value


def _command_line_input(request: TailRequest) -> list[TailInput]:
    if not request.paths:
        return []
    options: dict[str, Any] = {"paths": list(request.paths), "format": request.format, "start_at": request.start_at,
                               "multiline_timeout": request.multiline_timeout,
                               "static_fields": dict(_pair(item) for item in request.static_fields)}
    if request.multiline_start:
        options["multiline_start"] = request.multiline_start
    return [make_input(options, spell=input_flag)]


def _source(request: TailRequest) -> EtcdSource | KafkaTopicSource | None:
    url = request.config_source
    if not url:
        return None
    if url.startswith("kafka:"):
        from ._kafka_source import KafkaTopicSource

        # read with the shipper's security options: the flags', over those of --config's [kafkalog] table
        file_shipper = load_settings(request.config).shipper if request.config else {}
        return KafkaTopicSource(url, request.bootstrap_servers, {**file_shipper, **request.client_options})
    if url.startswith("etcd:"):
        from ._etcd import EtcdSource

        return EtcdSource(url)
    raise ConfigError(f"--config-source: expected kafka://TOPIC/KEY or etcd://HOST:PORT/KEY, got {url!r}")


def choose_transport(choice: str, shipper: Mapping[str, Any]) -> Any:
    """``--transport``, with ``auto`` resolved: the config's choice, else confluent when it is installed. Options in
    ``producer_config`` are in one client's own names: under ``auto`` they stay kafka-python's, as before ``auto``."""
    if choice != "auto":
        return choice
    if "transport" in shipper:
        return shipper["transport"]
    if "producer_config" in shipper or importlib.util.find_spec("confluent_kafka") is None:
        return "kafka-python"
    return "confluent"


def _shipper(request: TailRequest, from_files: Mapping[str, Any]) -> dict[str, Any]:
    shipper: dict[str, Any] = {"close_timeout": request.close_timeout, **from_files, **request.client_options}
    shipper["transport"] = choose_transport(request.transport, shipper)
    if request.redact:
        shipper["redact"] = sorted(set(request.redact))
    in_files = [name for name in _SPOOL_OPTIONS if name in from_files]
    if request.spool:
        shipper.setdefault("spool_max_bytes", request.spool_max_bytes or 1024 ** 3)
        shipper.setdefault("spool_fsync", request.fsync)
    elif request.spool_max_bytes is not None or request.fsync or in_files:
        given = "--spool-max-bytes" if request.spool_max_bytes is not None else "--fsync" if request.fsync \
            else f"kafkalog.{in_files[0]}"
        raise ConfigError(f"{given}: applies to the disk spool only; add --spool")
    return shipper


def _missing(inputs: Sequence[TailInput]) -> tuple[str, ...]:
    """A warning for each path or pattern that names no file now (followed once it appears)."""
    notes = []
    for source in inputs:
        for pattern in source.paths:
            found = glob.glob(pattern, recursive=True) if glob.has_magic(pattern) else \
                [pattern] if os.path.exists(pattern) else []
            if not found:
                what = "matches no file" if glob.has_magic(pattern) else "does not exist"
                notes.append(f"{pattern!r} {what} yet; it is followed once it appears")
    return tuple(notes)


def prepare(request: TailRequest, say: Callable[[str], None] = lambda text: None) -> PreparedTail:
    """The agent for ``request``; :class:`ConfigError` (or ``StateDirInUse``) if it cannot run as asked."""
    cli_inputs = _command_line_input(request)
    source = _source(request)
    try:
        def load() -> TailSettings:
            from_file = load_settings(request.config) if request.config else TailSettings(inputs=())
            remote = source.load() if source is not None else TailSettings(inputs=())
            return TailSettings(inputs=tuple(cli_inputs) + from_file.inputs + remote.inputs,
                                shipper={**from_file.shipper, **remote.shipper})

        settings = load()
        if not settings.inputs:
            raise ConfigError("nothing to follow: give PATH_OR_GLOB arguments, --config or --config-source")
        config = shipper_config(bootstrap_servers=request.bootstrap_servers, topic=request.topic,
                                state_dir=request.state_dir, options=_shipper(request, settings.shipper),
                                spool=request.spool)
        reloadable = bool(request.config or source)
        agent = TailAgent(settings, config, request.state_dir, settings_loader=load if reloadable else None,
                          watch_file=request.config, scan_interval=request.scan_interval,
                          rotate_wait=request.rotate_wait, partial_timeout=request.partial_timeout,
                          max_open=request.max_open, say=say)
    except BaseException:
        if source is not None:
            source.stop()
        raise
    return PreparedTail(agent, config, len(settings.inputs), source, _missing(settings.inputs))
