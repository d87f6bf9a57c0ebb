"""The agent's inputs: from the command line, or a TOML file (checked whole, before anything is read).

A file lists ``[[inputs]]`` tables; an optional ``[kafkalog]`` table holds shipper options (those of
:class:`~kafkalog.KafkaLogConfig`), read at start only. An unknown key or a bad value raises
:class:`TailConfigError` naming the key and the line of the file it is on.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._route import TOPIC_RULE, is_topic_name
from .._suggest import suggest
from ..config import OPTION_NAMES, check_static_fields
from ..errors import ConfigError

FORMATS = ("text", "json")
START_AT = ("beginning", "end")
INPUT_KEYS = ("paths", "topic", "format", "multiline_start", "multiline_timeout", "static_fields", "start_at",
              "action", "exclude")
TOP_KEYS = ("inputs", "kafkalog")
_AGENT_OWNED = ("bootstrap_servers", "spool_dir", "spool_full_policy", "handle_sigterm")


class TailConfigError(ConfigError):
    """A bad inputs file or option: the message names the key (and the file's line)."""


@dataclass(frozen=True)
class TailInput:
    """One set of files shipped alike."""

    paths: tuple[str, ...]
    topic: str | None = None
    format: str = "text"
    multiline_start: re.Pattern[str] | None = None
    multiline_timeout: float = 2.0
    static_fields: Mapping[str, Any] = field(default_factory=dict)
    start_at: str = "beginning"
    action: str = "log"
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class TailSettings:
    inputs: tuple[TailInput, ...]
    shipper: Mapping[str, Any] = field(default_factory=dict)


def make_input(options: Mapping[str, Any], where: str = "", line_of: Any = None,
               spell: Callable[[str], str] | None = None) -> TailInput:
    """A checked :class:`TailInput` from a mapping; errors say ``where`` and the key's line, and name the key as
    ``spell`` writes it (the command line's flags)."""

    def fail(key: str, problem: str) -> TailConfigError:
        line = line_of(key) if line_of is not None else None
        at = f" (line {line})" if line else ""
        return TailConfigError(f"{where}{spell(key) if spell else key}{at}: {problem}")

    unknown = [k for k in options if k not in INPUT_KEYS]
    if unknown:
        raise fail(unknown[0], f"unknown key{suggest(unknown[0], INPUT_KEYS)}; the keys of an input are "
                               f"{list(INPUT_KEYS)}")
    paths = options.get("paths")
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, Sequence) or not paths or not all(isinstance(p, str) and p.strip() for p in paths):
        raise fail("paths", "expected a non-empty list of paths or glob patterns")
    for pattern in paths:
        if pattern.count("[") != pattern.count("]"):
            raise fail("paths", f"{pattern!r} is not a valid glob pattern (unbalanced brackets)")
    exclude = options.get("exclude", [])
    if isinstance(exclude, str):
        exclude = [exclude]
    if not isinstance(exclude, Sequence) or not all(isinstance(p, str) for p in exclude):
        raise fail("exclude", "expected a list of glob patterns")
    topic = options.get("topic")
    if topic is not None and (not isinstance(topic, str) or not is_topic_name(topic)):
        raise fail("topic", f"{topic!r} is not a valid Kafka topic name ({TOPIC_RULE})")
    fmt = options.get("format", "text")
    if fmt not in FORMATS:
        raise fail("format", f"{fmt!r} is not one of {list(FORMATS)}")
    start_at = options.get("start_at", "beginning")
    if start_at not in START_AT:
        raise fail("start_at", f"{start_at!r} is not one of {list(START_AT)}")
    pattern_text = options.get("multiline_start")
    compiled = None
    if pattern_text is not None:
        if not isinstance(pattern_text, str) or not pattern_text:
            raise fail("multiline_start", "expected a regular expression")
        try:
            compiled = re.compile(pattern_text)
        except re.error as exc:
            raise fail("multiline_start", f"{pattern_text!r} is not a valid regular expression: {exc}") from None
    timeout = options.get("multiline_timeout", 2.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 3600:
        raise fail("multiline_timeout", f"expected seconds from 0 to 3600, got {timeout!r}")
    action = options.get("action", "log")
    if not isinstance(action, str):
        raise fail("action", f"expected a str, got {action!r}")
    try:
        static = check_static_fields(options.get("static_fields", {}))
    except ConfigError as exc:
        raise fail("static_fields", str(exc).removeprefix("static_fields: ")) from None
    return TailInput(paths=tuple(os.path.expanduser(p) for p in paths), topic=topic, format=fmt,
                     multiline_start=compiled, multiline_timeout=float(timeout), static_fields=static,
                     start_at=start_at, action=action, exclude=tuple(exclude))


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    data: dict[str, Any] = tomllib.loads(text)
    return data


class _Lines:
    """Finds the line a key is on: the first ``key =`` after the n-th ``[[inputs]]`` header (or the top)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def finder(self, table: str | None, index: int = 0) -> Any:
        def find(key: str) -> int | None:
            start = 0
            if table is not None:
                seen = -1
                header = re.compile(rf"^\s*\[\[?\s*{re.escape(table)}\s*\]\]?")
                for number, text in enumerate(self.lines):
                    if header.match(text):
                        seen += 1
                        if seen == index:
                            start = number
                            break
            key_re = re.compile(rf"(^|[{{,\s]){re.escape(key)}\s*=")
            for number in range(start, len(self.lines)):
                if key_re.search(self.lines[number]):
                    return number + 1
            return start + 1 if table is not None else None
        return find


def load_settings(path: str) -> TailSettings:
    """Read and check a TOML inputs file."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise TailConfigError(f"config: cannot read {path!r}: {exc}") from None
    return parse_settings(text, path)


def parse_settings(text: str, path: str) -> TailSettings:
    """Check TOML inputs text; ``path`` names where it came from in error messages."""
    try:
        data = _toml_loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError says the line and column
        raise TailConfigError(f"{path}: not valid TOML: {exc}") from None
    lines = _Lines(text)
    for key in data:
        if key not in TOP_KEYS:
            line = lines.finder(None)(key)
            raise TailConfigError(f"{path}: {key} (line {line}): unknown key{suggest(key, TOP_KEYS)}; the "
                                  f"top-level keys are {list(TOP_KEYS)}")
    raw_inputs = data.get("inputs", [])
    if not isinstance(raw_inputs, list) or not all(isinstance(i, dict) for i in raw_inputs):
        raise TailConfigError(f"{path}: inputs (line {lines.finder(None)('inputs')}): expected [[inputs]] tables")
    inputs = tuple(make_input(item, f"{path}: inputs[{n}].", lines.finder("inputs", n))
                   for n, item in enumerate(raw_inputs))
    shipper = data.get("kafkalog", {})
    if not isinstance(shipper, dict):
        raise TailConfigError(f"{path}: kafkalog: expected a table of shipper options")
    find = lines.finder("kafkalog")
    for key in shipper:
        allowed = [o for o in OPTION_NAMES if o not in _AGENT_OWNED]
        if key in _AGENT_OWNED:
            raise TailConfigError(f"{path}: kafkalog.{key} (line {find(key)}): set by the agent, not settable "
                                  f"here; the options are {allowed}")
        if key not in OPTION_NAMES:
            raise TailConfigError(f"{path}: kafkalog.{key} (line {find(key)}): unknown option"
                                  f"{suggest(key, allowed)}; the options are {allowed}")
    return TailSettings(inputs=inputs, shipper=shipper)
