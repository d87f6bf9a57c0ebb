"""``KafkaOptions``: the keyword options that :class:`~kafkalog.KafkaHandler`, :class:`~kafkalog.KafkaSink` and
:class:`~kafkalog.KafkaProcessor` take, defined once for all three (``**options: Unpack[KafkaOptions]``).

Type checkers and editors read the option names and types from here: mypy flags a misspelt option
(``lingr=``) and a value of the wrong type. Every field of :class:`~kafkalog.KafkaLogConfig` but
``bootstrap_servers`` and ``topic`` (the constructors' positional parameters), in the same order and with the same
types (tests/unit/test_signatures.py); the defaults are KafkaLogConfig's (see the table in the API reference).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypedDict

from .config import Overflow, Oversize, Schema
from .flood import RateLimit
from .redact import Redact
from .typing import ErrorSink, KeyChooser


class KafkaOptions(TypedDict, total=False):
    """Every keyword option of the handler, the sink and the processor; each one may be left out."""

    key: str | KeyChooser | None
    static_fields: Mapping[str, Any]
    default_action: str
    hostname: str | None
    transport: str | Callable[..., Any]
    producer_config: Mapping[str, Any]
    queue_max_records: int
    queue_max_bytes: int
    overflow: Overflow | Mapping[str | int, Overflow]
    block_timeout: float
    batch_max_records: int
    linger: float
    retry_backoff: float
    retry_backoff_max: float
    delivery_timeout: float
    close_timeout: float
    flush_timeout: float
    max_message_bytes: int
    oversize: Oversize
    schema: Schema
    on_error: ErrorSink | None
    error_interval: float
    handle_sigterm: bool
    spool_dir: str | None
    spool_max_bytes: int
    spool_segment_bytes: int
    spool_full_policy: Literal["drop_oldest", "drop_newest", "block"]
    spool_fsync: bool
    trace_ids: bool
    headers: Mapping[str, str | bytes] | Sequence[str] | None
    redact: str | Sequence[str] | Mapping[str, Any] | Redact | None
    rate_limit: RateLimit | Mapping[str, Any] | None
    levels_from: str | None
    collector: str | None
    prefork_collector: bool
    security_protocol: str | None
    sasl_mechanism: str | None
    sasl_username: str | None
    sasl_password: str | None
    ssl_ca_file: str | os.PathLike[str] | None
    ssl_cert_file: str | os.PathLike[str] | None
    ssl_key_file: str | os.PathLike[str] | None
    ssl_key_password: str | None
    compression: str | None
    acks: int | str | None
    producer_linger: float | None
    producer_batch_bytes: int | None
