"""Where a record goes: its topic (fixed, templated or chosen by a callable), its message key and its headers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ConfigError, ConfigTypeError
from .typing import Event

_TOPIC_CHARS = re.compile(r"[^a-zA-Z0-9._-]")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)*$")
MAX_TOPIC_LEN = 249
TOPIC_RULE = "1-249 characters of a-z A-Z 0-9 . _ -"
"""Kafka's rule for a topic name, as said in errors (besides: not ``.`` or ``..``)."""
UNKNOWN = "unknown"


def is_topic_name(name: str) -> bool:
    """Kafka accepts ``name`` as a topic name: the one place this rule is written."""
    return 0 < len(name) <= MAX_TOPIC_LEN and name not in (".", "..") and not _TOPIC_CHARS.search(name)


def _lookup(event: Event, path: tuple[str, ...]) -> Any:
    if len(path) == 1:
        return event.get(path[0]) if isinstance(event, dict) else None
    value: Any = event
    for name in path:
        if not isinstance(value, dict) or name not in value:
            return None
        value = value[name]
    return value


def _clean_topic(name: str) -> str:
    cleaned = _TOPIC_CHARS.sub("_", name)[:MAX_TOPIC_LEN]
    return cleaned if cleaned not in ("", ".", "..") else UNKNOWN


def compile_topic(topic: object) -> tuple[str | None, Callable[[Event], str]]:
    """Check ``topic`` once; return the fixed name (or ``None``) and a function giving each record's topic.

    A template such as ``"logs-{service}-{type}"`` names top-level record keys or ``fields.name`` paths; a
    missing value renders as ``unknown`` and characters Kafka does not allow in topic names become ``_``.
    """
    if callable(topic):
        chooser: Callable[[Event], Any] = topic

        def call(event: Event) -> str:
            chosen = chooser(event)
            return _clean_topic(UNKNOWN if chosen is None else str(chosen))

        return None, call
    if not isinstance(topic, str):
        raise ConfigTypeError(
            f"topic: expected a topic name, a template string or a callable, got {type(topic).__name__}")
    names = _PLACEHOLDER.findall(topic)
    literal = _PLACEHOLDER.sub("", topic)
    if "{" in literal or "}" in literal:
        raise ConfigError(f"topic: unbalanced braces in template {topic!r}")
    if _TOPIC_CHARS.search(literal) or not topic or len(topic) > MAX_TOPIC_LEN or topic in (".", ".."):
        raise ConfigError(
            f"topic: {topic!r} is not a valid Kafka topic name ({TOPIC_RULE}, "
            "optionally with {placeholders})")
    if not names:
        return topic, lambda event: topic
    for name in names:
        if not _FIELD_PATH.match(name):
            raise ConfigError(f"topic: placeholder {{{name}}} must be a record key or a fields.<name> path")
    parts = [tuple(name.split(".")) for name in names]
    template = _PLACEHOLDER.sub("{}", topic)

    def render(event: Event) -> str:
        values = []
        for path in parts:
            value = _lookup(event, path)
            values.append(UNKNOWN if value is None or value == "" else str(value))
        return _clean_topic(template.format(*values))

    return None, render


def compile_key(key: object) -> Callable[[Event], bytes | None] | None:
    """Check ``key`` once: ``None``, a record key / ``fields.name`` path, or a callable returning str/bytes/None."""
    if key is None:
        return None
    if callable(key):
        chooser: Callable[[Event], Any] = key

        def call(event: Event) -> bytes | None:
            return _to_key_bytes(chooser(event))

        return call
    if not isinstance(key, str):
        raise ConfigTypeError(f"key: expected None, a field path or a callable, got {type(key).__name__}")
    if "{" in key or "}" in key:  # a template, as for topics and headers: "{trace_id}", "{service}-{fields.user}"
        render = _compile_template("key", key)
        return lambda event: _to_key_bytes(render(event))
    if not _FIELD_PATH.match(key):
        raise ConfigError(f"key: {key!r} must be a record key (e.g. 'host') or a path such as 'fields.user_id'")
    path = tuple(key.split("."))
    return lambda event: _to_key_bytes(_lookup(event, path))


def _to_key_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "backslashreplace")


Headers = tuple[tuple[str, bytes], ...]


def compile_headers(headers: object) -> Callable[[Event], Headers | None] | None:
    """Check ``headers`` once: ``None``; a list of record keys / ``fields.name`` paths (each becomes a header of the
    same name); or a mapping of header name to a fixed value or a template such as ``"{trace_id}"``.

    A header whose template names a value the record does not have is left out of that record, so consumers see
    no ``unknown`` placeholders; a record may then carry fewer headers, or none (``None``).
    """
    if headers is None:
        return None
    if isinstance(headers, str) or not isinstance(headers, (Mapping, list, tuple)):
        raise ConfigTypeError("headers: expected a mapping of header name to value or '{template}', or a list of "
                              f"record keys, got {type(headers).__name__}")
    if isinstance(headers, Mapping):
        items = [(name, value) for name, value in headers.items()]
    else:
        items = [(name, f"{{{name}}}") for name in headers]
    fixed: list[tuple[str, bytes]] = []
    templated: list[tuple[str, Callable[[Event], str | None]]] = []
    for name, value in items:
        if not isinstance(name, str) or not name:
            raise ConfigTypeError(f"headers: header names must be non-empty strings, got {name!r}")
        if isinstance(value, bytes):
            fixed.append((name, value))
            continue
        if not isinstance(value, str):
            raise ConfigTypeError(f"headers: the value of {name!r} must be a str (fixed or '{{template}}') or bytes, "
                                  f"got {type(value).__name__}")
        if _PLACEHOLDER.search(value) or "{" in value or "}" in value:
            templated.append((name, _compile_template(f"headers: {name!r}", value)))
        else:
            fixed.append((name, value.encode("utf-8")))
    if not fixed and not templated:
        return None
    constant: Headers = tuple(fixed)
    if not templated:
        return lambda event: constant

    def render(event: Event) -> Headers | None:
        out = [*constant]
        for name, template in templated:
            text = template(event)
            if text is not None:
                out.append((name, text.encode("utf-8", "backslashreplace")))
        return tuple(out) or None

    return render


def _compile_template(what: str, template: str) -> Callable[[Event], str | None]:
    """A key or header template: its text for a record, or None when a value it names is missing or empty."""
    names = _PLACEHOLDER.findall(template)
    literal = _PLACEHOLDER.sub("", template)
    if "{" in literal or "}" in literal:
        raise ConfigError(f"{what}: unbalanced braces in {template!r}")
    for name in names:
        if not _FIELD_PATH.match(name):
            raise ConfigError(f"{what}: placeholder {{{name}}} must be a record key or a fields.<name> path")
    paths = [tuple(name.split(".")) for name in names]
    if template == f"{{{names[0]}}}" and len(names) == 1:  # the usual "{key}": the value itself
        path = paths[0]

        def value_of(event: Event) -> str | None:
            value = _lookup(event, path)
            if value is None or value == "":
                return None
            return value if isinstance(value, str) else str(value)

        return value_of
    form = _PLACEHOLDER.sub("{}", template)

    def render(event: Event) -> str | None:
        values = []
        for path in paths:
            value = _lookup(event, path)
            if value is None or value == "":
                return None
            values.append(value if isinstance(value, str) else str(value))
        return form.format(*values)

    return render
