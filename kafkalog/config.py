"""Options, frozen and validated once: a bad value raises at construction, naming the option and what is allowed."""

from __future__ import annotations

import functools
import os
import re
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal

from ._client_options import OPTION_NAMES as CLIENT_OPTION_NAMES
from ._client_options import SECRET_OPTIONS, ClientOptions
from ._client_options import check as check_client_options
from ._encode import dumps
from ._levels import parse_source
from ._overflow import OverflowPolicy
from ._records import RESERVED_KEYS
from ._route import Headers, compile_headers, compile_key, compile_topic
from ._secrets import MASK, masked, scrub, secret_values
from ._suggest import suggest
from .errors import ConfigError, ConfigTypeError
from .flood import RateLimit, rate_limit_for
from .redact import Redact, Redactor, redactor_for
from .transports._registry import TransportSpec, resolve_transport
from .typing import ErrorSink, Event, KeyChooser, TopicChooser

Overflow = Literal["drop_newest", "drop_oldest", "block"]
Oversize = Literal["truncate", "drop"]
Schema = Literal["kafkalog", "ecs", "otlp", "otlp_proto"]
OVERSIZE_POLICIES: tuple[str, ...] = ("truncate", "drop")
SCHEMAS: tuple[str, ...] = ("kafkalog", "ecs", "otlp", "otlp_proto")
SPOOL_FULL_POLICIES: tuple[str, ...] = ("drop_oldest", "drop_newest", "block")
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[^\s:/\[\]]+):(\d{1,5})$")


def check_static_fields(value: object, max_bytes: int | None = None) -> dict[str, Any]:
    """``static_fields`` as a dict with str keys; none may be a record key (nor, given ``max_bytes``, too big)."""
    if not isinstance(value, Mapping):
        raise ConfigTypeError(f"static_fields: expected a mapping, got {type(value).__name__}")
    static = {str(k): v for k, v in value.items()}
    clash = sorted(RESERVED_KEYS & set(static))
    if clash:
        raise ConfigError(f"static_fields: {clash} are record keys; allowed are any other names")
    if max_bytes is not None and len(dumps(static)) > max_bytes // 4:
        raise ConfigError("static_fields: encoded size must be under a quarter of max_message_bytes")
    return static


def _servers(value: object) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Sequence) or isinstance(items, (bytes, bytearray)):
        raise ConfigTypeError(
            f"bootstrap_servers: expected 'host:port[,host:port]' or a list of them, got {type(value).__name__}")
    servers = tuple(str(s).strip() for s in items if str(s).strip())
    if not servers:
        raise ConfigError("bootstrap_servers: at least one 'host:port' is required")
    for server in servers:
        match = _HOST_PORT.match(server)
        if not match or not 0 < int(match.group(2)) < 65536:
            raise ConfigError(f"bootstrap_servers: {server!r} is not 'host:port' with a port from 1 to 65535")
    return servers


def _number(name: str, value: Any, *, minimum: float, integer: bool = False,
            maximum: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        kind = "an int" if integer else "a number of seconds"
        raise ConfigTypeError(f"{name}: expected {kind}, got {value!r}")
    number = float(value)
    if number < minimum or (maximum is not None and number > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ConfigError(f"{name}: must be at least {minimum}{upper}, got {value!r}")


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class KafkaLogConfig:
    """Every option of :class:`~kafkalog.KafkaHandler` and :class:`~kafkalog.KafkaSink` (see docs/configuration.md)."""

    bootstrap_servers: str | Sequence[str] | None = None
    topic: str | TopicChooser
    key: str | KeyChooser | None = None
    static_fields: Mapping[str, Any] = field(default_factory=dict)
    default_action: str = "log"
    hostname: str | None = None
    transport: str | Callable[..., Any] = "kafka-python"
    producer_config: Mapping[str, Any] = field(default_factory=dict)
    queue_max_records: int = 100_000
    queue_max_bytes: int = 64 * 1024 * 1024
    overflow: Overflow | Mapping[str | int, Overflow] = "drop_newest"
    block_timeout: float = 0.05
    batch_max_records: int = 500
    linger: float = 0.05
    retry_backoff: float = 0.1
    retry_backoff_max: float = 5.0
    delivery_timeout: float = 120.0
    close_timeout: float = 5.0
    flush_timeout: float = 5.0
    max_message_bytes: int = 1_000_000
    oversize: Oversize = "truncate"
    schema: Schema = "kafkalog"
    on_error: ErrorSink | None = None
    error_interval: float = 60.0
    handle_sigterm: bool = True
    spool_dir: str | None = None
    spool_max_bytes: int = 256 * 1024 * 1024
    spool_segment_bytes: int = 16 * 1024 * 1024
    spool_full_policy: Literal["drop_oldest", "drop_newest", "block"] = "drop_oldest"
    spool_fsync: bool = False
    # context, tracing and record headers (docs/context.md)
    trace_ids: bool = True
    headers: Mapping[str, str | bytes] | Sequence[str] | None = None
    # safety valves in the process (docs/safety.md)
    redact: str | Sequence[str] | Mapping[str, Any] | Redact | None = None
    rate_limit: RateLimit | Mapping[str, Any] | None = None
    levels_from: str | None = None
    # hand records to a local collector (kafkalog collect) instead of a broker (docs/collector.md)
    collector: str | None = None
    prefork_collector: bool = False

    # client settings, one spelling for every transport (kafkalog/_client_options.py; None: not set)
    security_protocol: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_ca_file: str | os.PathLike[str] | None = None
    ssl_cert_file: str | os.PathLike[str] | None = None
    ssl_key_file: str | os.PathLike[str] | None = None
    ssl_key_password: str | None = None
    compression: str | None = None
    acks: int | str | None = None
    producer_linger: float | None = None
    producer_batch_bytes: int | None = None

    # derived once in __post_init__
    servers: tuple[str, ...] = field(init=False)
    host: str = field(init=False)
    fixed_topic: str | None = field(init=False)
    topic_for: Callable[[Event], str] = field(init=False)
    key_for: Callable[[Event], bytes | None] | None = field(init=False)
    headers_for: Callable[[Event], Headers | None] | None = field(init=False)
    transport_spec: TransportSpec = field(init=False)
    transport_settings: Mapping[str, Any] = field(init=False)
    client_options: ClientOptions = field(init=False)
    overflow_policy: OverflowPolicy = field(init=False)
    secrets: tuple[str, ...] = field(init=False)
    redactor: Redactor | None = field(init=False)
    rate_limiter: RateLimit | None = field(init=False)

    def __post_init__(self) -> None:
        setter = object.__setattr__
        collector_spec = self._check_collector()
        setter(self, "servers", _servers(self.bootstrap_servers) if collector_spec is None else ())
        fixed, chooser = compile_topic(self.topic)
        setter(self, "fixed_topic", fixed)
        setter(self, "topic_for", chooser)
        setter(self, "key_for", compile_key(self.key))
        self._check_fields()
        self._check_numbers()
        setter(self, "overflow_policy", OverflowPolicy(self.overflow))
        if isinstance(self.overflow, Mapping):
            setter(self, "overflow", dict(self.overflow))
        if self.oversize not in OVERSIZE_POLICIES:
            raise ConfigError(f"oversize: {self.oversize!r} is not one of {list(OVERSIZE_POLICIES)}")
        if not isinstance(self.schema, str) or self.schema not in SCHEMAS:
            raise ConfigError(f"schema: {self.schema!r} is not one of {list(SCHEMAS)}")
        self._check_spool()
        self._check_context()
        setter(self, "redactor", redactor_for(self.redact))
        setter(self, "rate_limiter", rate_limit_for(self.rate_limit))
        if self.levels_from is not None:
            parse_source(self.levels_from)
        if not isinstance(self.handle_sigterm, bool):
            raise ConfigTypeError(f"handle_sigterm: expected True or False, got {self.handle_sigterm!r}")
        if self.on_error is not None and not callable(self.on_error):
            raise ConfigTypeError("on_error: expected a callable taking one str, or None")
        if not isinstance(self.producer_config, Mapping):
            raise ConfigTypeError(
                f"producer_config: expected a mapping of producer options, got {type(self.producer_config).__name__}")
        spec = collector_spec or resolve_transport(self.transport)
        setter(self, "transport_spec", spec)
        producer_config = {str(k): v for k, v in self.producer_config.items()}
        setter(self, "producer_config", producer_config)
        options = check_client_options({name: getattr(self, name) for name in CLIENT_OPTION_NAMES}, producer_config)
        setter(self, "client_options", options)
        for name, value in options.items():  # shown normalised ("SASL_SSL", acks "all"); linger stays in seconds
            if name != "producer_linger":
                setter(self, name, value)
        setter(self, "secrets", secret_values(producer_config) + options.secrets())
        settings = spec.validate(producer_config, options)
        settings["bootstrap_servers"] = list(self.servers)
        if collector_spec is not None:
            settings["collector"] = self.collector
        setter(self, "transport_settings", settings)
        setter(self, "host", self.hostname or socket.gethostname())

    def _check_collector(self) -> TransportSpec | None:
        """With ``collector`` set, records go to a local collector: no broker, client or producer options."""
        if not isinstance(self.prefork_collector, bool):
            raise ConfigTypeError(f"prefork_collector: expected True or False, got {self.prefork_collector!r}")
        if self.prefork_collector and (self.collector is not None or self.spool_dir is not None):
            raise ConfigError("prefork_collector: cannot be set with collector or spool_dir (forked children hand "
                              "their records to this process's memory queue)")
        if self.collector is None:
            return None
        from .transports.collector import SPEC, socket_path
        object.__setattr__(self, "collector", socket_path(self.collector))
        given = [name for name in ("bootstrap_servers",) if getattr(self, name) is not None]
        given += [name for name in CLIENT_OPTION_NAMES if getattr(self, name) is not None]
        if self.producer_config:
            given.append("producer_config")
        if self.transport != "kafka-python":
            given.append("transport")
        if given:
            raise ConfigError(f"collector: the collector connects to the broker, so {given} cannot be set with it "
                              f"(set them on the collector: kafkalog collect)")
        return SPEC

    def _check_fields(self) -> None:
        object.__setattr__(self, "static_fields", check_static_fields(self.static_fields, self.max_message_bytes))
        if not isinstance(self.default_action, str):
            raise ConfigTypeError(f"default_action: expected a str, got {type(self.default_action).__name__}")
        if self.hostname is not None and not isinstance(self.hostname, str):
            raise ConfigTypeError(f"hostname: expected a str or None, got {type(self.hostname).__name__}")

    def _check_spool(self) -> None:
        spool_dir = self.spool_dir
        if spool_dir is not None:
            if not isinstance(spool_dir, (str, os.PathLike)) or not os.fspath(spool_dir):
                raise ConfigTypeError(f"spool_dir: expected a directory path or None, got {spool_dir!r}")
            object.__setattr__(self, "spool_dir", os.path.abspath(os.fspath(spool_dir)))
        _number("spool_segment_bytes", self.spool_segment_bytes, minimum=max(1024, self.max_message_bytes + 64),
                integer=True)
        _number("spool_max_bytes", self.spool_max_bytes, minimum=self.spool_segment_bytes, integer=True)
        if self.spool_full_policy not in SPOOL_FULL_POLICIES:
            raise ConfigError(f"spool_full_policy: {self.spool_full_policy!r} is not one of "
                              f"{list(SPOOL_FULL_POLICIES)}")
        if self.spool_full_policy == "block" and self.spool_max_bytes < 2 * self.spool_segment_bytes:
            # a writer waits until the sender frees a whole segment: the active one alone must never fill it
            raise ConfigError(f"spool_max_bytes: with spool_full_policy='block' it must be at least twice "
                              f"spool_segment_bytes ({2 * self.spool_segment_bytes}), got {self.spool_max_bytes}")
        if not isinstance(self.spool_fsync, bool):
            raise ConfigTypeError(f"spool_fsync: expected True or False, got {self.spool_fsync!r}")

    def _check_context(self) -> None:
        object.__setattr__(self, "headers_for", compile_headers(self.headers))
        if not isinstance(self.trace_ids, bool):
            raise ConfigTypeError(f"trace_ids: expected True or False, got {self.trace_ids!r}")

    def _check_numbers(self) -> None:
        _number("queue_max_records", self.queue_max_records, minimum=1, integer=True)
        _number("max_message_bytes", self.max_message_bytes, minimum=1024, integer=True)
        # room for one record of the largest size, plus the bookkeeping charged per queued record
        _number("queue_max_bytes", self.queue_max_bytes, minimum=self.max_message_bytes + 256, integer=True)
        _number("batch_max_records", self.batch_max_records, minimum=1, integer=True, maximum=100_000)
        _number("block_timeout", self.block_timeout, minimum=0, maximum=60)
        _number("linger", self.linger, minimum=0, maximum=10)
        _number("retry_backoff", self.retry_backoff, minimum=0.001)
        _number("retry_backoff_max", self.retry_backoff_max, minimum=self.retry_backoff)
        _number("delivery_timeout", self.delivery_timeout, minimum=0.1)
        _number("close_timeout", self.close_timeout, minimum=0)
        _number("flush_timeout", self.flush_timeout, minimum=0)
        _number("error_interval", self.error_interval, minimum=0)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            if not f.init:
                continue
            value = getattr(self, f.name)
            if f.name == "producer_config":
                value = masked(value)
            elif f.name in SECRET_OPTIONS and value is not None:
                value = MASK
            shown.append(f"{f.name}={value!r}")
        return f"KafkaLogConfig({', '.join(shown)})"

    def scrub(self, text: str) -> str:
        """``text`` with every secret value replaced by ``***`` (for error messages that quote client errors)."""
        return scrub(text, self.secrets)

    @classmethod
    def from_options(cls, bootstrap_servers: Any, topic: Any, config: KafkaLogConfig | None,
                     options: Mapping[str, Any]) -> KafkaLogConfig:
        """One config from either ``config=`` or the keyword options (not both): what the handler and sink take."""
        if config is not None:
            if bootstrap_servers is not None or topic is not None or options:
                raise ConfigTypeError("config: pass either config= or the individual options, not both")
            if not isinstance(config, KafkaLogConfig):
                raise ConfigTypeError(f"config: expected a KafkaLogConfig, got {type(config).__name__}")
            return config
        check_option_names(options)
        given = {"bootstrap_servers": bootstrap_servers, "topic": topic}
        check_required({**options, **{name: value for name, value in given.items() if value is not None}})
        return cls(bootstrap_servers=bootstrap_servers, topic=topic, **options)


OPTION_NAMES: tuple[str, ...] = tuple(sorted(f.name for f in fields(KafkaLogConfig) if f.init))


def default_of(empty: Mapping[str, Any]) -> dict[str, Any]:
    """Each optional option's default, in field order; ``empty`` stands for a mapping made fresh per config."""
    return {f.name: f.default if f.default is not MISSING else empty
            for f in fields(KafkaLogConfig) if f.init and f.name not in REQUIRED}


REQUIRED: dict[str, str] = {"bootstrap_servers": "'127.0.0.1:9092'", "topic": "'app-logs'"}
COLLECTOR_EXAMPLE = "/run/kafkalog/collector.sock"
_generated_init = KafkaLogConfig.__init__


def check_option_names(options: Iterable[str], others: Mapping[str, str] | None = None, *,
                       known: Sequence[str] | None = None, owner: str = "") -> None:
    """Raise :class:`ConfigTypeError` for the first name of ``options`` that is not ``known`` (the options of
    KafkaLogConfig by default), with the closest one; ``others`` maps names that belong elsewhere to where
    (loguru's ``level`` -> ``logger.add(...)``); ``owner`` names whose option it is not (``of KafkaHandler``)."""
    names = OPTION_NAMES if known is None else known
    for name in options:
        if name in names:
            continue
        if others and name in others:
            raise ConfigTypeError(f"{name}: {others[name]}")
        of = f" of {owner}" if owner else ""
        raise ConfigTypeError(f"{name}: unknown option{of}{suggest(name, names)}; the options are "
                              f"{sorted(names) if owner else list(names)}")


def check_required(options: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigTypeError` naming the required options missing from ``options``."""
    missing = [name for name in REQUIRED if name not in options]
    if options.get("collector") is not None and "bootstrap_servers" in missing:
        missing.remove("bootstrap_servers")  # the collector ships, with its own servers
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        examples = ", ".join(f"{name}={REQUIRED[name]}" for name in missing)
        if "bootstrap_servers" in missing:
            examples += f"; or collector={COLLECTOR_EXAMPLE!r}"
        raise ConfigTypeError(f"{' and '.join(missing)} {verb} required (e.g. {examples})")


@functools.wraps(_generated_init)
def _checked_init(self: KafkaLogConfig, *args: Any, **options: Any) -> None:
    """The dataclass's own ``__init__``, after a check that names the options when one is unknown or missing."""
    if args:
        raise ConfigTypeError("KafkaLogConfig takes keyword options only, e.g. KafkaLogConfig(bootstrap_servers="
                              "'127.0.0.1:9092', topic='app-logs')")
    check_option_names(options)
    check_required(options)
    _generated_init(self, **options)


KafkaLogConfig.__init__ = _checked_init  # type: ignore[method-assign]
