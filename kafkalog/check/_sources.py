"""Where the options to check come from: the command line, or the KafkaHandler entries of a logging config file
(a ``dictConfig`` in JSON, YAML or TOML, or a ``fileConfig`` INI file), read without configuring logging.

Values are resolved as the stdlib would (``ext://`` in dictConfig; ``args``/``kwargs`` evaluated in fileConfig, as
``fileConfig`` itself does), so the options checked are the ones the application gets.
"""

from __future__ import annotations

import configparser
import json
import logging
import logging.config
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

_HANDLER_NAMES = frozenset({"kafkalog.KafkaHandler", "kafkalog.handler.KafkaHandler"})
_NOT_OPTIONS = frozenset({"class", "()", "level", "formatter", "filters", "."})
_POSITIONAL = ("bootstrap_servers", "topic")
_YAML_SUFFIXES = (".yaml", ".yml")
_TOML_SUFFIX = ".toml"
_INI_SUFFIXES = (".ini", ".cfg", ".conf")


@dataclass(frozen=True)
class HandlerOptions:
    """The options of one KafkaHandler: ``source`` names it (``handlers.kafka`` in a config file)."""

    source: str
    options: dict[str, Any]


def _is_kafka_handler(target: object) -> bool:
    if isinstance(target, str):
        if target in _HANDLER_NAMES:
            return True
        if target.startswith("logging."):
            return False
        try:
            target = logging.config.BaseConfigurator({}).resolve(target)
        except Exception:  # not importable here: dictConfig would fail on it, but it is not ours to judge
            return False
    from ..handler import KafkaHandler

    return isinstance(target, type) and issubclass(target, KafkaHandler)


def _plain(value: Any) -> Any:
    """dictConfig's converting containers as plain ones (``ext://`` values already resolved by indexing)."""
    if isinstance(value, Mapping):
        return {k: _plain(value[k]) for k in value}
    if isinstance(value, list | tuple):
        return [_plain(value[i]) for i in range(len(value))]
    return value


def _read_mapping(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in _YAML_SUFFIXES:
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"config: {path} is YAML, which needs PyYAML (pip install pyyaml)") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"config: {path} is not valid YAML: {exc}") from None
    elif path.suffix.lower() == _TOML_SUFFIX:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
        try:
            loaded = tomllib.loads(text)
        except ValueError as exc:
            raise ConfigError(f"config: {path} is not valid TOML: {exc}") from None
    else:
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config: {path} is not valid JSON: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"config: {path} holds a {type(loaded).__name__}, not a dictConfig mapping")
    return loaded


def _from_dict_config(path: Path) -> list[HandlerOptions]:
    configurator = logging.config.DictConfigurator(_read_mapping(path))
    handlers = configurator.config.get("handlers") or {}
    found = []
    for name in handlers:
        entry = handlers[name]  # indexing converts ext:// and cfg:// values
        if not isinstance(entry, Mapping) or not _is_kafka_handler(entry.get("()", entry.get("class"))):
            continue
        options = {str(k): _plain(entry[k]) for k in entry if k not in _NOT_OPTIONS}
        found.append(HandlerOptions(f"handlers.{name}", options))
    return found


def _from_file_config(path: Path) -> list[HandlerOptions]:
    parser = configparser.ConfigParser()
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except configparser.Error as exc:
        raise ConfigError(f"config: {path} is not a valid INI file: {exc}") from None
    names = [n.strip() for n in parser.get("handlers", "keys", fallback="").split(",") if n.strip()]
    found = []
    for name in names:
        section = f"handler_{name}"
        if not parser.has_section(section) or not _is_kafka_handler(parser.get(section, "class", fallback="")):
            continue
        try:  # exactly what logging.config.fileConfig does with these two entries
            args = eval(parser.get(section, "args", fallback="()"), vars(logging))
            kwargs = eval(parser.get(section, "kwargs", fallback="{}"), vars(logging))
        except Exception as exc:
            raise ConfigError(f"config: [{section}] args/kwargs cannot be evaluated: {exc}") from None
        if not isinstance(args, tuple) or not isinstance(kwargs, dict) or len(args) > len(_POSITIONAL):
            raise ConfigError(f"config: [{section}] needs args=('host:port', 'topic') and kwargs={{...}} of options")
        options = dict(zip(_POSITIONAL, args, strict=False))
        options.update({str(k): v for k, v in kwargs.items() if k != "level"})
        found.append(HandlerOptions(section, options))
    return found


def handlers_in_file(path: str | Path) -> list[HandlerOptions]:
    """The KafkaHandler entries of a logging config file; ConfigError if it cannot be read or has none."""
    path = Path(path)
    try:
        head = path.read_text(encoding="utf-8").lstrip()[:1]
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    is_ini = suffix in _INI_SUFFIXES or (suffix not in (*_YAML_SUFFIXES, _TOML_SUFFIX, ".json") and head == "[")
    found = _from_file_config(path) if is_ini else _from_dict_config(path)
    if not found:
        kind = "fileConfig" if is_ini else "dictConfig"
        raise ConfigError(f"config: {path} ({kind}) has no handler of class kafkalog.KafkaHandler")
    return found


def merged(file_options: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A handler's options with the command line's on top (``producer_config`` merged key by key)."""
    options = dict(file_options)
    for name, value in overrides.items():
        if name == "producer_config" and isinstance(options.get(name), Mapping):
            options[name] = {**options[name], **value}
        else:
            options[name] = value
    return options
