"""Writing and reading the value of a levels key (what ``kafkalog levels set/get/reset`` do)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping

from ._levels import LEVEL_NAMES, levels_document, parse_levels

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)?")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(text: str) -> float:
    """``"15m"`` -> 900.0 (``s``, ``m``, ``h``, ``d``; a bare number is seconds). ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"expected a duration such as 30s, 15m, 2h or 1d, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["billing.api=DEBUG"]`` -> ``{"billing.api": "DEBUG"}``; ValueError naming a bad one."""
    levels: dict[str, str] = {}
    for item in items:
        name, sep, level = item.partition("=")
        if not sep or not name.strip() or level.strip().upper() not in LEVEL_NAMES:
            raise ValueError(f"expected LOGGER=LEVEL with LEVEL one of {list(LEVEL_NAMES)}, got {item!r}")
        levels[name.strip()] = level.strip().upper()
    return levels


def publish(bootstrap_servers: str, topic: str, key: str, value: bytes | None, timeout: float = 30.0) -> None:
    """Write ``value`` (None: a tombstone) for ``key``, waiting for the broker's acknowledgement."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap_servers.split(","), acks="all",
                             request_timeout_ms=int(timeout * 1000))
    try:
        producer.send(topic, key=key.encode("utf-8"), value=value).get(timeout=timeout)
    finally:
        producer.close(timeout=5)


def set_value(levels: Mapping[str, str], duration: float | None) -> bytes:
    return levels_document(levels, None if duration is None else time.time() + duration)


def read_current(bootstrap_servers: str, topic: str, key: str, timeout: float = 30.0) -> bytes | None:
    """The key's latest value (None when there is none or it is a tombstone), read to the topic's end."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers.split(","), group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            raise LookupError(f"topic {topic!r} not found")
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        latest: bytes | None = None
        deadline = time.monotonic() + timeout
        wanted = key.encode("utf-8")
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic!r} to its end within {timeout:g} s")
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    if record.key == wanted:
                        latest = record.value
        return latest
    finally:
        consumer.close()


def describe(value: bytes | None) -> str:
    """One line per logger: ``billing.api=DEBUG until 2026-12-07T03:15:00Z`` (or why the value is not valid)."""
    try:
        levels = parse_levels(value)
    except ValueError as exc:
        return f"(not a valid levels value: {exc})"
    if not levels:
        return "(no levels set)"
    now = time.time()
    lines = []
    for name, (level, until) in sorted(levels.items()):
        when = "" if until is None else time.strftime(" until %Y-%m-%dT%H:%M:%SZ", time.gmtime(until))
        expired = " (expired)" if until is not None and until <= now else ""
        lines.append(f"{name}={logging.getLevelName(level)}{when}{expired}")
    return "\n".join(lines)
