"""What each option of :class:`~kafkalog.KafkaLogConfig` means: the one place its description lives.

The documentation's option reference (docs/configuration.md) is generated from this table and from the dataclass
itself (names, types, defaults), so it cannot drift. An option added to ``KafkaLogConfig`` must get a description
here: tests/unit/test_config_docs.py and the docs build (``make docs``) both fail until it has one. Imported only
by the docs build and the tests, never by kafkalog itself.
"""

from __future__ import annotations

import collections.abc
import json
import os
import types
import typing
from dataclasses import MISSING, Field, dataclass, fields
from typing import Any

from .config import KafkaLogConfig


@dataclass(frozen=True)
class Section:
    """One table of the reference: a heading, optional text above the table, option -> meaning, text below."""

    title: str
    intro: str
    options: dict[str, str]
    after: str = ""


SECTIONS: tuple[Section, ...] = (
    Section("Where records go", "", {
        "bootstrap_servers": 'Brokers to connect to: `"host:port"`, several joined by commas (`"b1:9092,b2:9092"`), '
                             'or a list of them. The port must be from 1 to 65535. Write IPv6 addresses in brackets: '
                             '`"[::1]:9092"`.',
        "topic": 'A topic name (1 to 249 characters of `a-z A-Z 0-9 . _ -`); a template with `{placeholders}` such as '
                 '`"logs-{service}-{type}"`; or a callable `f(record_dict) -> str`. See '
                 '[Routing](#routing-topic-and-key).',
        "key": 'The Kafka message key. `None` sends no key. A string names a record key (`"host"`) or a '
               '`fields.<name>` path (`"fields.user_id"`), or is a template of them (`"{trace_id}"`, '
               '`"{service}-{fields.user_id}"`; a record missing any of its values gets no key). `key="trace_id"` '
               'keeps each OpenTelemetry trace on one partition. A callable is '
               '`f(record_dict) -> str | bytes | None`. Strings are encoded as UTF-8.',
        "transport": 'The client that sends records: `"kafka-python"`; `"confluent"` (needs '
                     "`pip install 'kafkalog[confluent]'`); `\"memory\"` (sends nothing: keeps every record in a "
                     'list in memory, without a bound, for tests); a transport object such as `MemoryTransport()`; '
                     'or a class or callable that takes the settings dict and returns a transport.',
        "collector": 'Hand records to a local collector (`kafkalog collect`) instead of a broker: the path of its Unix '
                     'socket, or a `unix:` URL (`"/run/kafkalog/collector.sock"`). The process then builds and encodes '
                     'records and hands them over; it imports no Kafka client. `bootstrap_servers`, `transport`, '
                     '`producer_config` and the client options cannot be set with it (the collector has them). '
                     'See [the collector](collector.md).',
        "prefork_collector": "In the process that creates the handler, also take the records of the processes it "
                             "forks (gunicorn `--preload`, Celery prefork, `multiprocessing` fork pools): they hand "
                             "them over to this process over a private Unix socket, and its one producer ships "
                             "them, instead of each child starting a producer. Spawned children (uvicorn "
                             "`--workers`, the `spawn` start method) are not covered: use `collector`. Not with "
                             "`collector` or `spool_dir`. See [the collector](collector.md#pre-fork-parent-mode).",
        "producer_config": "Other options passed to the transport's producer, in its client's own names. See "
                           "[producer_config](#producer_config). The common ones have options of their own: see "
                           "[Connection, security and the producer](#connection-security-and-the-producer).",
    }),
    Section("What records contain", "", {
        "static_fields": 'Keys added at the top level of every record, e.g. `{"service": "billing", "env": "prod"}`. '
                         'Names may not be record keys (`type`, `action`, `time`, `msg`, `fields`, `funcName`, '
                         '`logger`, `host`, `pid`, `thread`, `file`, `line`, `exception`, `truncated`). Their '
                         'encoded size must be under a quarter of `max_message_bytes`.',
        "default_action": "The record's `action` when the call gives none.",
        "hostname": "The record's `host`. `None` uses `socket.gethostname()`.",
        "max_message_bytes": "The largest encoded record, in bytes; at least 1024. Longer records are cut down or "
                             "dropped, according to `oversize`.",
        "oversize": 'What to do with a record over `max_message_bytes`. `"truncate"` shortens `msg` and the '
                    'exception texts, then drops `fields` if needed, and marks the record `"truncated": true`. '
                    '`"drop"` drops it and counts it as `too_large`. See '
                    '[record format](record-format.md#size-limit-and-truncation).',
        "schema": 'The shape of each Kafka message. `"kafkalog"`: the [record format](record-format.md). `"ecs"`: '
                  'an Elastic Common Schema document, as `ecs-logging` writes it. `"otlp"`: one OTLP/JSON '
                  "`ExportLogsServiceRequest`, for the OpenTelemetry Collector's `kafkareceiver` with "
                  "`encoding: otlp_json`. `\"otlp_proto\"`: the same request in protobuf, the receiver's default "
                  "`encoding: otlp_proto`. Topic templates and `key` paths still read the record format's keys. See "
                  '[output schemas](schemas.md).',
    }),
    Section("Queue and batching", "", {
        "queue_max_records": "The most records waiting to be sent; at least 1.",
        "queue_max_bytes": "The most memory the queue may hold; at least `max_message_bytes` + 256. Each record "
                           "counts as its value plus its key plus 256 bytes for the Python objects that hold it, so "
                           "this bounds the real memory of a backlog.",
        "overflow": 'What to do when a new record does not fit in the queue. `"drop_newest"` drops the new record. '
                    '`"drop_oldest"` drops the oldest queued records (whatever their level) to make room. '
                    '`"block"` makes the logging call wait up to `block_timeout` for room, then drops the new '
                    'record. Every drop is counted as `queue_full`. A mapping from level to one of them gives a '
                    'policy per level: see [Overflow per level](#overflow-per-level). Not used with `spool_dir`, '
                    'which never drops for lack of queue room.',
        "block_timeout": 'Where `overflow` says `"block"`: the longest one logging call waits for room, in seconds '
                         '(0 to 60).',
        "batch_max_records": "The most records handed to the client in one batch (1 to 100000).",
        "linger": "How long the worker waits for more records before it sends a batch that is not full, in "
                  "seconds (0 to 10).",
    }),
    Section("Retries and timeouts", "", {
        "retry_backoff": "The first wait before a retry or a reconnect, in seconds; at least 0.001.",
        "retry_backoff_max": "The longest wait, in seconds; at least `retry_backoff`. Retry *n* (from 0) waits a "
                             "random time between d/2 and d, where d is "
                             "`min(retry_backoff_max, retry_backoff * 2**n)`.",
        "delivery_timeout": "How long a batch is retried after its first send attempt, in seconds; at least 0.1. "
                            "Records still failing after that are dropped as `delivery_timeout`. Time spent in "
                            "the queue does not count.",
        "flush_timeout": "The default wait of `flush()` and `drain()`, in seconds. `logging.shutdown()` calls "
                         "`flush()` with this timeout.",
        "close_timeout": "How long `close()`, `logger.remove()` and the exit hook keep sending, in seconds. "
                         "Records not sent by then are dropped as `shutdown`.",
    }),
    Section("Disk spool", "All off unless `spool_dir` is set. See "
                          "[operations](operations.md#the-disk-spool-spool_dir).", {
        "spool_dir": "A directory on a local file system where queued records are written and from which they are "
                     "sent, so that they survive restarts and crashes. It is created if missing. `None` keeps "
                     "records in memory only.",
        "spool_max_bytes": "The most bytes the spool directory holds; at least `spool_segment_bytes`.",
        "spool_segment_bytes": "The size at which a spool file is closed and a new one started; at least "
                               "`max_message_bytes` + 64. Fully sent files are deleted.",
        "spool_full_policy": "What to do when the spool is full: delete the oldest unsent records, or refuse new "
                             "ones (either is counted as `spool_full`), or make the logging call wait until the "
                             "sender frees room (`\"block\"`: nothing is dropped, but a call can wait as long as the "
                             "broker is down; needs `spool_max_bytes` of at least twice `spool_segment_bytes`; what "
                             "`kafkalog tail` uses). Under `\"block\"` a record is always written to disk by the "
                             "call itself, never held in memory first.",
        "spool_fsync": "Force every spool write to disk, so that records also survive a crash of the machine. "
                       "Slower.",
    }),
    Section(
        "Connection, security and the producer",
        "These options mean the same with every transport: kafkalog writes them in the client's own names "
        "(kafka-python's `security_protocol`, `sasl_plain_username`, `ssl_cafile`, ...; librdkafka's "
        "`security.protocol`, `sasl.username`, `ssl.ca.location`, ...), so changing `transport=` changes nothing "
        "else. `None` (the default) leaves the setting to `producer_config` or to the client's default. Setting "
        "one of them and the same setting in `producer_config` (under any of the client's names for it) raises "
        "`ConfigError` naming both.",
        {
            "security_protocol": 'How to talk to the brokers: `"PLAINTEXT"`, `"SSL"`, `"SASL_PLAINTEXT"` or '
                                 '`"SASL_SSL"`, in any case. `None`: PLAINTEXT.',
            "sasl_mechanism": '`"PLAIN"`, `"SCRAM-SHA-256"` or `"SCRAM-SHA-512"`. Required with the two SASL '
                              'protocols. Other mechanisms (`GSSAPI`, `OAUTHBEARER`) go in `producer_config`.',
            "sasl_username": "The SASL user. Required with `sasl_mechanism`.",
            "sasl_password": "The SASL password: a [secret](#secrets). Required with `sasl_mechanism`.",
            "ssl_ca_file": "PEM file of the CAs to trust for the brokers' certificates (`SSL`, `SASL_SSL`). "
                           "`None`: the system's CAs.",
            "ssl_cert_file": "PEM file of the client certificate, for brokers that require one "
                             "(`ssl.client.auth=required`).",
            "ssl_key_file": "PEM file of the client certificate's private key. Needs `ssl_cert_file`.",
            "ssl_key_password": "The password of an encrypted `ssl_key_file`: a [secret](#secrets).",
            "compression": 'How batches are compressed: `"none"`, `"gzip"`, `"snappy"`, `"lz4"` or `"zstd"`. '
                           "`None`: none. confluent-kafka has every codec built in. kafka-python has gzip; "
                           "snappy, lz4 and zstd need `python-snappy`, `lz4` or `zstandard` "
                           "(`pip install 'kafkalog[compression]'`), and kafkalog refuses the codec at "
                           "construction when its package is missing.",
            "acks": 'How many replicas must have a record before the broker confirms it: `0`, `1` or `"all"` '
                    '(`-1` means `"all"`). `None`: `"all"`. `0` and `1` turn the idempotent producer off (it '
                    'needs `"all"`).',
            "producer_linger": "How long the client waits to fill a batch, in seconds (0 to 60; kafka-python's "
                               "`linger_ms`, librdkafka's `linger.ms`). `None`: 0.005. The worker's own wait is "
                               "`linger`.",
            "producer_batch_bytes": "The client's batch size in bytes (1 to 2147483647; kafka-python's "
                                    "`batch_size`, default 262144 in kafkalog; librdkafka's `batch.size`, default "
                                    "1000000).",
        },
        after="""The files must exist and be readable when the handler is created. A SASL option with a protocol
that does not use SASL, or a TLS option with one that does not use TLS, raises `ConfigError` (the protocol may
come from `security_protocol` or from `producer_config`).

```python
handler = KafkaHandler("broker-1:9093", "app-logs", transport="confluent",   # or "kafka-python": nothing else changes
                       security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                       sasl_username="svc-logs", sasl_password=os.environ["KAFKA_PASSWORD"],
                       ssl_ca_file="/etc/kafka/ca.pem", compression="zstd", acks="all")
```""",
    ),
    Section("Context, tracing and headers",
            "See [context, tracing and record headers](context.md). Values bound with `kafkalog.bind()` / "
            "`kafkalog.bound()` need no option: they land in `fields` of every record logged in their context.", {
        "trace_ids": "Inside an active OpenTelemetry span, add its ids as the top-level keys `trace_id` (32 lowercase "
                     "hex digits) and `span_id` (16), and its W3C trace flags as `trace_flags` (bit 0: sampled). "
                     "kafkalog never imports OpenTelemetry: without it, this costs "
                     'one dictionary lookup per record. `False` turns the lookup off. Pair with `key="trace_id"` to '
                     "keep each trace on one partition.",
        "headers": "Kafka record headers. A mapping of header name to a fixed `str` (sent as UTF-8) or `bytes`, or "
                   "to a template with `{placeholders}` naming record keys or `fields.<name>` paths "
                   '(`{"service": "{service}", "trace_id": "{trace_id}", "producer": "kafkalog"}`); or a list of '
                   'record keys / paths, each sent as a header of the same name (`["service", "trace_id"]`). A '
                   "header whose template has no value in a record is left out of that record. `None` sends no "
                   "headers and costs nothing.",
    }),
    Section("Safety valves", "Applied in the application's process, before a record is encoded, queued or spooled. "
            "See [safety valves](safety.md).", {
        "redact": 'Remove secrets and personal data from every record: a preset name (`"secrets"`, `"pii"`), a '
                  'list of them, a mapping with `presets`, `keys` and `patterns` (name -> regex), or '
                  '`kafkalog.Redact(...)`. `None` redacts nothing and costs nothing. See '
                  '[redaction](safety.md#redaction).',
        "rate_limit": 'Flood control: `kafkalog.RateLimit(records=100, interval=10.0)` (or a mapping of its '
                      'options) ships at most `records` records per `interval` seconds for each logging call site '
                      'and level, and summarises the rest in one record per interval. ERROR and above are never held '
                      'back unless `errors=True`. `None` (the default) costs nothing. See '
                      '[flood control](safety.md#flood-control).',
        "levels_from": 'Follow one key of a compacted topic, `"kafka://TOPIC/KEY"`, and apply the logger levels it '
                       'holds (written by `kafkalog levels set`) to stdlib loggers, within seconds, in every process '
                       'that follows it. `None` (the default) follows nothing. See '
                       '[levels at run time](safety.md#levels-at-run-time).',
    }),
    Section("Errors and process lifecycle", "", {
        "on_error": "Receives kafkalog's error reports: a callable taking one `str`. `None` writes them to "
                    "`sys.stderr`. See [operations](operations.md#error-reporting).",
        "error_interval": "Reports of the same kind are passed on at most once per interval, in seconds; the next "
                          "one says how many were held back. `0` passes every report on.",
        "handle_sigterm": "On SIGTERM, exit normally, so that the exit hook sends what is queued. kafkalog "
                          "installs this only when the handler is created in the main thread and SIGTERM still "
                          "has its default action; a handler that the application or its server installed is left "
                          "alone. `False` never touches signals.",
    }),
)
"""The option reference, table by table, in the order the docs show them."""


def option_fields() -> list[Field[Any]]:
    """The options: every field of ``KafkaLogConfig`` a caller sets (not the ones derived at construction)."""
    return [f for f in fields(KafkaLogConfig) if f.init]


def undocumented() -> list[str]:
    """Options that have no description here."""
    described = {name for section in SECTIONS for name in section.options}
    return [f.name for f in option_fields() if f.name not in described]


def unknown() -> list[str]:
    """Descriptions of names that are not options (renamed or removed ones)."""
    names = {f.name for f in option_fields()}
    return [name for section in SECTIONS for name in section.options if name not in names]


def type_text(annotation: Any) -> str:
    """An annotation as a reader says it: ``str`` or ``None``; ``"a"`` or ``"b"``; callable; list of ``str``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_text(arg) for arg in args)
    if origin is typing.Literal:
        return " or ".join(f"`{json.dumps(arg)}`" for arg in args)
    if annotation is type(None) or annotation is None:
        return "`None`"
    if origin is collections.abc.Callable or annotation is collections.abc.Callable:
        return "callable"
    if origin in (collections.abc.Mapping, dict) or annotation in (collections.abc.Mapping, dict):
        return "mapping"
    if origin in (collections.abc.Sequence, list, tuple):
        return f"list of {type_text(args[0])}" if args else "list"
    if origin is os.PathLike or annotation is os.PathLike:
        return "path"
    if isinstance(annotation, type):
        return f"`{annotation.__name__}`"
    return f"`{annotation}`"


def default_text(f: Field[Any]) -> str:
    """The default as Python source (``"required"`` for none); byte sizes also in MiB."""
    if f.name == "bootstrap_servers":  # None only goes with ``collector``
        return "required (unless `collector`)"
    if f.default is not MISSING:
        value = f.default
    elif f.default_factory is not MISSING:
        value = f.default_factory()
    else:
        return "required"
    if isinstance(value, str):
        return f"`{json.dumps(value)}`"
    text = f"`{value!r}`"
    mib = 1024 * 1024
    if isinstance(value, int) and not isinstance(value, bool) and value >= mib and value % mib == 0:
        text += f" ({value // mib} MiB)"
    return text


def _cell(text: str) -> str:
    """Text for one table cell: a ``|`` outside inline code would end the cell (inside code it is kept as is)."""
    parts = text.replace("\n", " ").split("`")
    return "`".join(part if i % 2 else part.replace("|", "\\|") for i, part in enumerate(parts))


def _table(rows: list[tuple[Field[Any], str]], hints: dict[str, Any]) -> list[str]:
    lines = ["| option | type | default | meaning |", "|---|---|---|---|"]
    for f, meaning in rows:
        hint = hints.get(f.name, f.type)
        lines.append(f"| `{f.name}` | {_cell(type_text(hint))} | {_cell(default_text(f))} | {_cell(meaning)} |")
    return lines


def reference_markdown(heading: str = "###") -> str:
    """The option reference: one Markdown table per section; options without a description come last, marked."""
    try:
        hints = typing.get_type_hints(KafkaLogConfig)
    except (NameError, TypeError):  # an annotation that names something only type checkers import
        hints = {}
    by_name = {f.name: f for f in option_fields()}
    lines: list[str] = []
    for section in SECTIONS:
        rows = [(by_name[name], meaning) for name, meaning in section.options.items() if name in by_name]
        lines += [f"{heading} {section.title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        lines += [*_table(rows, hints), ""]
        if section.after:
            lines += [section.after, ""]
    missing = undocumented()
    if missing:
        lines += [f"{heading} Other options", ""]
        lines += [*_table([(by_name[name], "**No description yet.**") for name in missing], hints), ""]
    return "\n".join(lines)
